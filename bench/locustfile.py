# Load-tests onnx-serve with Locust, for teams whose load tests are Locust
# files. Each simulated user posts one fresh random row per request to
# /predict, with a bearer token, and counts anything but a 200 as a failure.
#
# `npm run test:locust` (bench/locust-run.sh, run by CI) starts the server
# with the bundled iris model and runs this file for 10 s. By hand (Locust is
# not installed with onnx-serve: Debian's python3-locust, or pip install locust):
#
#   npm start                                   # onnx-serve on http://127.0.0.1:3000
#   export ONNX_SERVE_TOKEN=$(npm run --silent token -- --sub locust --scope predict --ttl 1h)
#   locust -f bench/locustfile.py --headless -u 10 -r 10 -t 30s --host http://127.0.0.1:3000
#
# The server's per-subject quota (RATE_LIMIT_MAX, default 6000 a minute) stops
# a load test within seconds with 429s: raise it for the test, e.g.
# RATE_LIMIT_MAX=10000000 npm start. Without --host, http://127.0.0.1:3000.
#
# Environment:
#   ONNX_SERVE_TOKEN   bearer token with the predict scope (required)
#   ONNX_SERVE_ROW     "random" (default): ONNX_SERVE_WIDTH random floats in
#                      [-1, 1] per request, for a model such as the bench's
#                      mlp-small; "iris": a random iris-like row of 4
#                      measurements (cm), for the bundled iris model
#   ONNX_SERVE_WIDTH   floats per random row (default 64)
#   ONNX_SERVE_PATH    the route (default /predict: the server's DEFAULT_MODEL)
#   ONNX_SERVE_WAIT    seconds each user waits between requests (default 0:
#                      back to back, as the bench's autocannon does)
#
# The bench itself (npm run bench) uses autocannon; this file is for
# comparing with a team's existing Locust setup, not a replacement for it.

import os
import random

from locust import HttpUser, constant, task

ROW = os.environ.get("ONNX_SERVE_ROW", "random")
WIDTH = int(os.environ.get("ONNX_SERVE_WIDTH", "64"))
PATH = os.environ.get("ONNX_SERVE_PATH", "/predict")
WAIT = float(os.environ.get("ONNX_SERVE_WAIT", "0"))
TOKEN = os.environ.get("ONNX_SERVE_TOKEN", "")

# Iris measurements (cm) span these ranges, as in bench/lib/scenarios.ts.
IRIS_RANGES = [(4.3, 7.9), (2.0, 4.4), (1.0, 6.9), (0.1, 2.5)]

if ROW not in ("random", "iris"):
    raise SystemExit(f'ONNX_SERVE_ROW={ROW!r}: expected "random" or "iris"')
if not TOKEN:
    raise SystemExit(
        "ONNX_SERVE_TOKEN is not set: mint one with "
        "`npm run --silent token -- --sub locust --scope predict`"
    )


def random_row():
    if ROW == "iris":
        return [round(random.uniform(low, high), 1) for low, high in IRIS_RANGES]
    return [round(random.uniform(-1.0, 1.0), 4) for _ in range(WIDTH)]


class OnnxServeUser(HttpUser):
    host = "http://127.0.0.1:3000"
    wait_time = constant(WAIT)

    def on_start(self):
        self.client.headers.update({"authorization": f"Bearer {TOKEN}"})

    @task
    def predict(self):
        with self.client.post(PATH, json={"input_data": random_row()}, name=PATH, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
            elif "prediction" not in response.json():
                response.failure("no prediction in the reply")
