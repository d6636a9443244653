"""Regenerate mock_epay/scenarios/rule_validator.py after changing the scenario schema.

    python scripts/rule_validator.py          # write it
    python scripts/rule_validator.py --check  # exit 1 when it is out of date (tests do this too)
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mock_epay.scenarios.schema import schema_digest, validator_source  # noqa: E402

TARGET = ROOT / "mock_epay" / "scenarios" / "rule_validator.py"


def main() -> int:
    if "--check" in sys.argv[1:]:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        fresh = f'SCHEMA_SHA256 = "{schema_digest()}"' in current
        print("rule_validator.py is up to date" if fresh else "rule_validator.py is stale: regenerate it")
        return 0 if fresh else 1
    TARGET.write_text(validator_source(), encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
