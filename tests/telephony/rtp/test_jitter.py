"""The jitter buffer, driven by a fake playout clock: reordering, loss, lateness, wrap, restart."""

from callgate.telephony.rtp.jitter import JitterBuffer


def frame(n: int) -> bytes:
    return n.to_bytes(2, "big")


def test_reordered_frames_come_out_in_order_after_the_initial_delay():
    jb = JitterBuffer(depth=3)
    for seq in (10, 12, 11):
        jb.push(seq, frame(seq))
    # three buffered: playout starts
    assert [jb.pop() for _ in range(3)] == [frame(10), frame(11), frame(12)]
    assert jb.lost == 0


def test_waiting_for_the_depth_before_playing():
    jb = JitterBuffer(depth=3)
    jb.push(1, frame(1))
    assert jb.pop() is None  # buffering
    jb.push(2, frame(2))
    assert jb.pop() is None
    jb.push(3, frame(3))
    assert jb.pop() == frame(1)


def test_a_lost_frame_is_concealed_and_the_stream_moves_on():
    jb = JitterBuffer(depth=2)
    for seq in (1, 2, 4, 5):  # 3 never comes
        jb.push(seq, frame(seq))
    assert [jb.pop() for _ in range(5)] == [frame(1), frame(2), None, frame(4), frame(5)]
    assert jb.lost == 1
    jb.push(3, frame(3))  # too late now
    assert jb.late == 1 and len(jb) == 0


def test_across_the_sequence_wrap_with_a_duplicate():
    jb = JitterBuffer(depth=2)
    for seq in (65534, 65535, 65535, 0, 1):
        jb.push(seq, frame(seq))
    assert jb.duplicates == 1
    assert [jb.pop() for _ in range(4)] == [frame(65534), frame(65535), frame(0), frame(1)]


def test_an_underrun_buffers_again_before_playing_on():
    jb = JitterBuffer(depth=2)
    jb.push(1, frame(1))
    jb.push(2, frame(2))
    assert [jb.pop(), jb.pop()] == [frame(1), frame(2)]
    assert jb.pop() is None  # nothing left: underrun, not a loss
    assert jb.lost == 0
    jb.push(3, frame(3))
    assert jb.pop() is None  # gathering again
    jb.push(4, frame(4))
    assert [jb.pop(), jb.pop()] == [frame(3), frame(4)]


def test_a_restarted_sequence_resynchronises():
    jb = JitterBuffer(depth=1, max_frames=50)
    jb.push(100, frame(100))
    assert jb.pop() == frame(100)
    jb.push(30000, frame(30000))  # far ahead: the sender restarted
    assert jb.pop() == frame(30000)
    jb.push(5, frame(5))  # far behind: restarted again, not "late"
    assert jb.late == 0 and jb.pop() == frame(5)
