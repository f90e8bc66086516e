"""The admin API's OpenAPI document passes `openapi-spec-validator` (PyPI), as code
generators need it: fetched from a live `moat demo`.

Usage: openapi_contract.py path/to/moat
"""

import json
import os
import sys
import tempfile
import urllib.request

from demo import start_demo
from openapi_spec_validator import validate


def main() -> None:
    data = tempfile.mkdtemp(prefix="moat-openapi-")
    demo = start_demo(sys.argv[1], data)
    try:
        with open(os.path.join(data, "demo.json")) as f:
            url = json.load(f)["url"]
        with urllib.request.urlopen(f"{url}/api/v1/openapi.json") as response:
            document = json.load(response)
    finally:
        demo.terminate()
        demo.wait(timeout=10)
    validate(document)
    operations = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(operations) == len(set(operations)), operations
    print(f"OpenAPI contract: {len(document['paths'])} paths, {len(operations)} operations, valid")


if __name__ == "__main__":
    main()
