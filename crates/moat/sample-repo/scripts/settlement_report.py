"""Builds the daily settlement report from ledger exports."""

import csv
from dataclasses import dataclass


@dataclass
class Settlement:
    """One merchant's net position for the day."""

    merchant_id: str
    gross_cents: int
    fees_cents: int

    @property
    def net_cents(self) -> int:
        """Gross minus fees."""
        return self.gross_cents - self.fees_cents


def load_settlements(path: str) -> list[Settlement]:
    """Reads a CSV export with merchant_id, gross_cents, fees_cents columns."""
    with open(path, newline="") as handle:
        return [
            Settlement(row["merchant_id"], int(row["gross_cents"]), int(row["fees_cents"]))
            for row in csv.DictReader(handle)
        ]


def main() -> None:
    for settlement in load_settlements("settlements.csv"):
        print(f"{settlement.merchant_id}: {settlement.net_cents}")


if __name__ == "__main__":
    main()
