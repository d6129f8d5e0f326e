import os

from callgate.telephony.aio import entropy


def test_tokens_are_hex_of_the_asked_length_and_do_not_repeat():
    tokens = [entropy.token_hex(8) for _ in range(2000)]  # crosses several 4 KiB blocks
    assert all(len(t) == 16 and int(t, 16) >= 0 for t in tokens)
    assert len(set(tokens)) == len(tokens)


def test_a_forked_child_does_not_reuse_the_parent_s_block():
    entropy.token_hex(4)  # the parent holds a block
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(write, entropy.token_hex(16).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    assert child != entropy.token_hex(16)
    os.close(read)
    os.close(write)
