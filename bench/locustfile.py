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
# Each user first reads the default model's metadata (GET /v1/models, then
# /v1/models/<name>) and sends rows shaped to its inputs: random floats in
# [-1, 1] for floating-point inputs, 0 for integers (a valid index for any
# embedding), random booleans, "a" for strings; a dynamic dimension
# other than the batch gets 1.
#
# Environment:
#   ONNX_SERVE_TOKEN   bearer token with the predict scope (required)
#   ONNX_SERVE_WAIT    seconds each user waits between requests (default 0:
#                      back to back, as the bench's autocannon does)
#
# The bench itself (npm run bench) uses autocannon; this file is for
# comparing with a team's existing Locust setup, not a replacement for it.

import os
import random

from locust import HttpUser, constant, task

WAIT = float(os.environ.get("ONNX_SERVE_WAIT", "0"))
TOKEN = os.environ.get("ONNX_SERVE_TOKEN", "")

if not TOKEN:
    raise SystemExit(
        "ONNX_SERVE_TOKEN is not set: mint one with "
        "`npm run --silent token -- --sub locust --scope predict`"
    )


def element(datatype):
    if datatype.startswith("float"):
        return round(random.uniform(-1.0, 1.0), 4)
    if datatype == "bool":
        return random.random() < 0.5
    if datatype == "string":
        return "a"
    return 0


def value(shape, datatype):
    """Nested lists of `shape` (a dynamic dimension: 1) of random elements."""
    if not shape:
        return element(datatype)
    return [value(shape[1:], datatype) for _ in range(max(1, shape[0]))]


class OnnxServeUser(HttpUser):
    host = "http://127.0.0.1:3000"
    wait_time = constant(WAIT)

    def on_start(self):
        self.client.headers.update({"authorization": f"Bearer {TOKEN}"})
        name = self.client.get("/v1/models", name="/v1/models").json()["default_model"]
        self.inputs = self.client.get(f"/v1/models/{name}", name="/v1/models/{name}").json()["inputs"]

    def row(self):
        """One row of the default model: the input's value, or an object of them for several inputs."""
        rows = {spec["name"]: value(spec["shape"][1:], spec["datatype"]) for spec in self.inputs}
        return next(iter(rows.values())) if len(rows) == 1 else rows

    @task
    def predict(self):
        with self.client.post("/predict", json={"input_data": self.row()}, name="/predict", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
            elif "prediction" not in response.json():
                response.failure("no prediction in the reply")
