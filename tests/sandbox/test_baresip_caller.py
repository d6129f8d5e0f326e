"""baresip, a real softphone, calls the sandbox: the person at 0100 answers and says "Hello?", which
baresip's own recording holds."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import wave

import numpy as np
import pytest

from callgate.sandbox.uas import Sandbox
from callgate.telephony.aio.tts import speaker
from callgate.telephony.media.tones import silence
from tests.audio_checks import best_alignment
from tests.telephony.aio.peers import free_udp_port

pytestmark = [pytest.mark.anyio, pytest.mark.interop]


async def test_baresip_calls_0100_and_hears_hello(tmp_path):
    if shutil.which("baresip") is None:
        pytest.fail("baresip is not installed: `make test` installs Debian's baresip")
    box = await Sandbox.start("127.0.0.1", 0, time_scale=0.05)  # hangs up 6 s after "Hello?"
    host, port = box.address
    quiet = tmp_path / "quiet.wav"
    with wave.open(str(quiet), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(silence(20.0).tobytes())
    conf, recordings = tmp_path / "conf", tmp_path / "recordings"
    conf.mkdir()
    recordings.mkdir()
    sip_port = free_udp_port()
    (conf / "config").write_text(
        "module_path /usr/lib/baresip/modules\n"
        f"sip_listen 127.0.0.1:{sip_port}\nnet_interface 127.0.0.1\n"
        f"audio_source aufile,{quiet}\naudio_player aubridge,nil\naudio_alert aubridge,nil\n"
        "ausrc_srate 8000\nauplay_srate 8000\nrtp_ports 21000-21999\n"
        "module g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule sndfile.so\n"
        "module_tmp uuid.so\nmodule_tmp account.so\nmodule_app menu.so\n"
        f"snd_path {recordings}\n"
    )
    (conf / "accounts").write_text(f"<sip:caller@127.0.0.1:{sip_port}>;regint=0;audio_codecs=PCMU,PCMA\n")
    try:
        proc = await asyncio.create_subprocess_exec(
            "baresip", "-f", str(conf), "-e", f"/dial sip:+14155550100@{host}:{port}", "-t", "9",
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    finally:
        box.close()
    log = output.decode(errors="replace")
    assert "Call established" in log, log[-2000:]
    (heard_path,) = recordings.glob("dump-*-dec.wav")
    with wave.open(str(heard_path)) as w:
        heard = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    hello = await speaker().speak("Hello?")
    assert best_alignment(heard, hello) > 0.9
    assert "session closed" in log  # the sandbox hung up on baresip (its BYE), before baresip's 9 s
