"""Latency of `POST /v1/route` and throughput of `/v1/route/batch` against raw encoding.

In one run: the API served by uvicorn on 127.0.0.1 (in a thread of this process) and called over
HTTP with a keep-alive httpx client, so auth, JSON validation, embedding, intent model,
language/sentiment/cue signals and rules are all in the measured path, against raw
`model.encode` of the same texts in the same process, interleaved so that both see the same
machine load.

    .venv/bin/python bench/route_latency.py [--model-dir DATA/models] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import code_version, machine, write_section  # noqa: E402

START_MARK = "<!-- bench:route:start -->"
END_MARK = "<!-- bench:route:end -->"
MESSAGES = ROOT / "demo" / "data" / "messages.json"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(texts: list[str], rounds: int, model_dir: Path | None) -> dict[str, float | str]:
    """Route latency and batch throughput against raw encoding, in one fresh data folder;
    with `model_dir`, the newest trained intent model in it (else zero-shot)."""
    import shutil
    import socket
    import threading

    import httpx
    import uvicorn

    from adapters.container import Container
    from api.app import create_app
    from core.auth.service import create_key
    from core.classification.joined import JoinedEncoderModel
    from core.config import Settings
    from core.migrate import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp))  # type: ignore[call-arg]
        if model_dir is not None:
            shutil.copytree(model_dir, settings.models_dir)
        upgrade(settings.resolved_database_url)
        container = Container(settings)
        with container.session() as session:
            _, key = create_key(session, "integration", "bench", container.clock.now())
            session.commit()
        headers = {"Authorization": f"Bearer {key}"}
        # Raw encoding = every encoder the route runs: the message model, and the second
        # intent encoder when the trained model joins one (core.classification.joined).
        intent_model = container.triager().model
        encoders = [container.embedder]
        if isinstance(intent_model, JoinedEncoderModel):
            encoders.append(intent_model.encoder)

        def encode(batch: list[str]) -> None:
            for encoder in encoders:
                encoder.embed(batch)

        encode(["warm up"])
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(create_app(container), host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            client.post("/v1/route", headers=headers, json={"text": "warm up"})
            api_ms: list[float] = []
            raw_ms: list[float] = []
            for _ in range(rounds):
                for text in texts:
                    t0 = time.perf_counter()
                    encode([text])
                    raw_ms.append((time.perf_counter() - t0) * 1000)
                    t0 = time.perf_counter()
                    resp = client.post("/v1/route", headers=headers, json={"text": text})
                    api_ms.append((time.perf_counter() - t0) * 1000)
                    assert resp.status_code == 200, resp.text
            batch_api: list[float] = []
            batch_raw: list[float] = []
            chunks = [texts[i : i + 100] for i in range(0, len(texts), 100)]
            for _ in range(rounds):
                for chunk in chunks:
                    t0 = time.perf_counter()
                    encode(chunk)
                    batch_raw.append(len(chunk) / (time.perf_counter() - t0))
                    t0 = time.perf_counter()
                    resp = client.post(
                        "/v1/route/batch",
                        headers=headers,
                        json={"items": [{"text": t} for t in chunk]},
                    )
                    batch_api.append(len(chunk) / (time.perf_counter() - t0))
                    assert resp.status_code == 200, resp.text
            version = client.post("/v1/route", headers=headers, json={"text": "x y z"}).json()[
                "model_version"
            ]
        server.should_exit = True
        thread.join(10)
        container.close()
    return {
        "version": version,
        "encoders": " + ".join(e.model_name for e in encoders),
        "p50_api": statistics.median(api_ms),
        "p99_api": pct(api_ms, 0.99),
        "p50_raw": statistics.median(raw_ms),
        "p99_raw": pct(raw_ms, 0.99),
        "thr_api": statistics.median(batch_api),
        "thr_raw": statistics.median(batch_raw),
    }


def table(r: dict[str, Any]) -> list[str]:
    enc = r.get("encoders", "all-MiniLM-L6-v2")
    return [
        f"Intent model `{r['version']}`:",
        "",
        "| | p50 (ms) | p99 (ms) |",
        "|---|---:|---:|",
        f"| `POST /v1/route`, one message | {r['p50_api']:.1f} | {r['p99_api']:.1f} |",
        f"| raw `model.encode` ({enc}), one message | {r['p50_raw']:.1f} | {r['p99_raw']:.1f} |",
        f"| **ratio route / raw (target ≤ 1.3)** | **{r['p50_api'] / r['p50_raw']:.2f}** | "
        f"**{r['p99_api'] / r['p99_raw']:.2f}** |",
        "",
        "| | messages/s |",
        "|---|---:|",
        f"| `POST /v1/route/batch`, 100 per call | {r['thr_api']:.1f} |",
        f"| raw `model.encode` ({enc}), 100 per call | {r['thr_raw']:.1f} |",
        f"| **ratio batch / raw (target ≥ 0.85)** | **{r['thr_api'] / r['thr_raw']:.2f}** |",
        "",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--model-dir",
        type=Path,
        help="a folder of trained intent models (a data folder's models/, e.g. made by "
        "`threadline router train`): measured as well as zero-shot",
    )
    args = parser.parse_args()

    texts = [m["text"] for m in json.loads(MESSAGES.read_text())][:200]
    load_start = os.getloadavg()
    results = [measure(texts, args.rounds, None)]
    if args.model_dir is not None:
        results.append(measure(texts, args.rounds, args.model_dir))
    m = machine()
    command = (
        "python bench/route_latency.py"
        + (f" --model-dir {args.model_dir}" if args.model_dir else "")
        + (f" --write {args.write}" if args.write else "")
    )
    lines = [
        START_MARK,
        "## Routing latency (`bench/route_latency.py`)",
        "",
        f"- Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, command `{command}`, {code_version()}.",
        f"- Machine: {m['nproc']} cores, {m['cpu']}, {m['ram']}; torch {m['torch']}. Load "
        f"average at start {' / '.join(f'{v:.2f}' for v in load_start)}, at end "
        f"{' / '.join(f'{v:.2f}' for v in os.getloadavg())}.",
        f"- {len(texts)} demo messages x {args.rounds} rounds, interleaved with raw encoding; "
        "no sender (so no history or KB lookup); uvicorn on 127.0.0.1, keep-alive HTTP client "
        "in the same process; each model in a fresh data folder.",
        "",
    ]
    for r in results:
        lines += table(r)
    section = "\n".join(lines[:-1] + [END_MARK])
    print(section)
    if args.write:
        write_section(args.write, section + "\n", START_MARK, END_MARK)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
