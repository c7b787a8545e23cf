"""``python -m sandbox ENGINE [--host H] [--port P] [--time-scale S] [--seed-demo]``.

Serves until SIGINT or SIGTERM. The first stdout line is JSON: ``url`` and ``api_url``,
plus with ``--seed-demo`` what the engine's demo needs to connect (Fakturoid: ``slug``,
``client_id`` and ``client_secret``; Fakturownia: ``account``, ``account_url``, ``api_token``;
SmartBill: ``cif``, ``email``, ``token`` and the series).
"""
import argparse
import json
import signal
import sys
import threading

from . import fakturoid, fakturownia, smartbill

ENGINES = {
    "fakturoid": (fakturoid.FakturoidSandbox, fakturoid.seed_demo),
    "fakturownia": (fakturownia.FakturowniaSandbox, fakturownia.seed_demo),
    "smartbill": (smartbill.SmartBillSandbox, smartbill.seed_demo),
}


def parse_arguments(argv):
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="Run an engine sandbox on loopback.")
    parser.add_argument("engine", choices=sorted(ENGINES))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--time-scale", type=float, default=1.0, help="multiplies rate-limit windows and other waits")
    parser.add_argument("--seed-demo", action="store_true", help="create the demo account and API client")
    return parser.parse_args(argv)


def main(argv=None):
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    sandbox_class, seed = ENGINES[arguments.engine]
    sandbox = sandbox_class(host=arguments.host, port=arguments.port, time_scale=arguments.time_scale).start()
    info = {"url": sandbox.url, "api_url": sandbox.api_url}
    if arguments.seed_demo:
        info.update(seed(sandbox))
    print(json.dumps(info), flush=True)
    stop = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stop.set())
    stop.wait()
    sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
