"""The `threadline` CLI as a person runs it: run, keys create, migrate, demo."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent / "threadline"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    env["THREADLINE_DATA_DIR"] = str(data_dir)
    env["THREADLINE_SWEEP_INTERVAL_SECONDS"] = "1"
    return env


@pytest.mark.slow
def test_run_serves_the_api_with_a_printed_admin_key(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "var"
    proc = subprocess.Popen(
        [str(BIN), "run", "--host", "127.0.0.1", "--port", str(port)],
        env=env_for(data),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        key = None
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while key is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            found = re.search(r"(tl_[A-Za-z0-9_\-]+)", line)
            key = found.group(1) if found else None
        assert key, "no admin key printed"
        base = f"http://127.0.0.1:{port}"
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        headers = {"Authorization": f"Bearer {key}"}
        resp = httpx.post(
            f"{base}/v1/messages?wait=true",
            headers=headers,
            json={"channel": "sms", "sender": {"phone": "+14155550123"}, "text": "hello"},
            timeout=60,
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "processed"
        assert httpx.get(f"{base}/readyz", headers=headers).status_code == 200
        docs = httpx.get(f"{base}/docs")
        assert docs.status_code == 200
        asset = re.search(r'src="([^"]+\.js)"', docs.text)
        assert asset and httpx.get(base + asset.group(1)).status_code == 200  # served locally
        assert (data / "threadline.db").exists() and (data / "chroma").is_dir()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    # A second start does not print a new key (one exists already).
    second = subprocess.run(
        [str(BIN), "keys", "create", "--role", "agent", "--name", "Ana", "--json"],
        env=env_for(data),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 0, second.stderr
    created = json.loads(second.stdout)
    assert created["role"] == "agent" and created["key"].startswith("tl_")


def test_keys_create_rejects_unknown_role(tmp_path: Path) -> None:
    env = env_for(tmp_path / "var")
    subprocess.run([str(BIN), "migrate"], env=env, check=True, capture_output=True, timeout=60)
    bad = subprocess.run(
        [str(BIN), "keys", "create", "--role", "wizard"], env=env, capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert "unknown role" in bad.stdout + bad.stderr


@pytest.mark.slow
def test_demo_loads_the_sample_company_and_is_idempotent(tmp_path: Path) -> None:
    env = env_for(tmp_path / "var")
    first = subprocess.run(
        [str(BIN), "demo", "--json"], env=env, capture_output=True, text=True, timeout=300
    )
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert summary["customers"] >= 40 and summary["messages_new"] >= 250
    assert summary["kb_documents"] >= 30 and summary["kb_version"] == 1
    assert summary["statuses"] == {"processed": summary["messages_new"]}
    again = subprocess.run(
        [str(BIN), "demo", "--json"], env=env, capture_output=True, text=True, timeout=300
    )
    summary2 = json.loads(again.stdout.strip().splitlines()[-1])
    assert summary2["messages_new"] == 0
    assert summary2["messages_duplicate"] == summary["messages_new"]
    assert summary2["kb_version"] == 1 and summary2["kb_chunks_embedded"] == 0


@pytest.mark.slow
def test_kb_ingest_and_search_from_the_command_line(tmp_path: Path) -> None:
    env = env_for(tmp_path / "var")
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "lost.md").write_text(
        "---\nid: lost-parcel\ntitle: My parcel is lost\ntags: [shipping]\n---\n"
        "# My parcel is lost\n\nAfter 7 days without tracking we open a trace.\n"
    )
    (kb / "bad.docx").write_bytes(b"junk")

    def run(*args: str) -> dict[str, object]:
        done = subprocess.run(
            [str(BIN), *args, "--json"], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    first = run("kb", "ingest", str(kb))
    assert first["kb_version"] == 1 and first["documents_added"] == 1 and first["skipped"] == 1
    second = run("kb", "ingest", str(kb))
    assert second["changed"] is False and second["chunks_embedded"] == 0
    found = run("kb", "search", "the box never showed up", "--k", "1")
    assert found["hits"][0]["document_id"] == "lost-parcel"  # type: ignore[index]


@pytest.mark.slow
@pytest.mark.parametrize("intent_encoder", [None, "all-mpnet-base-v2"])
def test_router_train_eval_and_route(tmp_path: Path, intent_encoder: str | None) -> None:
    """Train, score and route; with a second intent encoder (the packaged all-mpnet-base-v2,
    joined to the message vector), the trained model records it and every command uses it."""
    env = env_for(tmp_path / "var")
    if intent_encoder:
        env["THREADLINE_INTENT_ENCODER"] = intent_encoder
    rows = {
        "lost_parcel": [
            "my parcel never arrived",
            "package lost in transit",
            "no delivery yet",
            "tracking stuck for days",
            "courier lost my box",
            "where is my parcel",
        ],
        "password_reset": [
            "forgot my password",
            "reset link broken",
            "cannot log in",
            "change my password",
            "password email missing",
            "locked out of login",
        ],
    }
    data = tmp_path / "train.csv"
    with data.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["message", "intent"])
        for label, texts in rows.items():
            writer.writerows([t, label] for t in texts)
    teams = tmp_path / "teams.yaml"
    teams.write_text(
        "teams:\n  orders_shipping:\n    description: parcels\n    intents: [lost_parcel]\n"
        "  account_security:\n    description: logins\n    intents: [password_reset]\n"
    )

    def run(*args: str) -> dict[str, object]:
        done = subprocess.run(
            [str(BIN), *args], env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    trained = run(
        "router",
        "train",
        str(data),
        "--text-column",
        "message",
        "--label-column",
        "intent",
        "--teams",
        str(teams),
        "--folds",
        "3",
        "--json",
    )
    assert trained["n"] == 12 and str(trained["model_version"])
    meta = json.loads(Path(str(trained["path"])).with_suffix(".json").read_text())
    assert meta["intent_encoder"] == intent_encoder
    assert meta["dimension"] == (384 + 768 if intent_encoder else 384)
    report = tmp_path / "report.html"
    scored = run(
        "router",
        "eval",
        str(data),
        "--text-column",
        "message",
        "--label-column",
        "intent",
        "--teams",
        str(teams),
        "--json",
        "--report",
        str(report),
    )
    assert set(scored) == {
        "n",
        "accuracy",
        "macro_f1",
        "team_accuracy",
        "ece",
        "abstain_rate",
        "accuracy_when_answered",
        "latency_ms_p50",
    }
    assert scored["accuracy"] == 1.0 and scored["team_accuracy"] == 1.0
    assert "data:image/png;base64" in report.read_text()
    env.pop("THREADLINE_INTENT_ENCODER", None)  # the trained model names its own encoder
    routed = run("route", "I forgot my password and cannot log in", "--json")
    assert routed["model_version"] == trained["model_version"]
    assert routed["intent"] == {
        "label": "password_reset",
        "confidence": routed["intent"]["confidence"],
    }  # type: ignore[index]
    assert routed["team"]["name"] == "account_security"  # type: ignore[index]

    def refused(*args: str, **extra_env: str) -> str:
        """`threadline router train DATA ARGS` exits 2; its output, whitespace collapsed."""
        done = subprocess.run(
            [str(BIN), "router", "train", str(data), *args],
            env={**env, **extra_env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2
        return " ".join((done.stdout + done.stderr).split())

    assert "no column text" in refused("--text-column", "text", "--label-column", "intent")
    unknown = refused(
        "--text-column",
        "message",
        "--label-column",
        "intent",
        THREADLINE_INTENT_ENCODER="no-such-model",
    )
    assert "'no-such-model' is neither a model folder" in unknown
