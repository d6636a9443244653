"""The SQLite store's invoice reservations: one attempt in flight per invoice and per last six digits.

Mixed into `mock_epay.store.sqlite.SqliteBackend` (it uses its `_write`, `_lock`, `_db` and
`_depth`). A reservation is two rows in `reservations` (the invoice, and `~` + its last six
digits) whose primary key lets one holder in, checked together with `succeeded`; each row
carries the id of the process that made it, and the rows of a process that died mid-payment are
deleted when the file is opened again.

Inside an enclosing write transaction (`atomic()`), a reservation is checked but its rows wait:
the transaction holds the file's write lock from `BEGIN IMMEDIATE` to `COMMIT`, so no other
process can take the invoice meanwhile, and the rows go in just before the commit only if the
reservation is still open then. A payment reserved, recorded and released in one scope (the
usual case) writes no reservation rows at all.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Any

from mock_epay.store.base import InvoiceReservation, duplicate_error, invoice_suffix

_Row = tuple[str, str, str, int]  # client_id, key, owner, pid


def hold_owner(transaction_id: str) -> str:
    """The owner of the reservation a 3-D Secure hold keeps."""
    return "h" + transaction_id


def owner_of(reservation: InvoiceReservation) -> str:
    """Unique on one machine while the process lives (a dead process's rows are swept at open)."""
    return f"{os.getpid()}:{reservation.number}"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # an earlier process with our (recycled) id: it is gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _rows(reservation: InvoiceReservation, owner: str, pid: int) -> list[_Row]:
    client_id, invoice_id = reservation.client_id, reservation.invoice_id
    return [(client_id, invoice_id, owner, pid), (client_id, "~" + invoice_suffix(invoice_id), owner, pid)]


class SqliteInvoices:
    """`reserve_invoice`, `release_invoice`, `invoice_succeeded` on the backend's connection."""

    # provided by the backend (store/sqlite.py) this is mixed into
    _lock: threading.RLock
    _db: Any
    _write: Any
    _depth: int

    def __init__(self) -> None:
        self._open_reservations: set[int] = set()  # numbers of this process's reservations not yet freed
        self._waiting_rows: dict[int, list[_Row]] = {}  # reservations checked in a scope, rows not yet in

    def _sweep_dead_reservations(self) -> None:
        with self._write() as db:
            pids = [row[0] for row in db.execute("SELECT DISTINCT pid FROM reservations WHERE pid > 0")]
            for pid in pids:
                if not _pid_alive(pid):
                    db.execute("DELETE FROM reservations WHERE pid = ?", (pid,))

    def reserve_invoice(self, client_id: str, invoice_id: str) -> InvoiceReservation:
        reservation = InvoiceReservation(client_id, invoice_id)
        with self._lock:
            in_scope = self._depth > 0
            with self._write():
                self._reserve(reservation, owner_of(reservation), os.getpid(), defer=in_scope)
                self._open_reservations.add(reservation.number)
        return reservation

    def _reserve(self, reservation: InvoiceReservation, owner: str, pid: int, defer: bool = False) -> None:
        """The duplicate error when the invoice (or its last six digits) succeeded or is held;
        else its rows go in (or, with `defer`, wait for the end of the transaction)."""
        rows = _rows(reservation, owner, pid)
        client_id, key, suffix_key = rows[0][0], rows[0][1], rows[1][1]
        waiting = {(row[0], row[1]) for pending in self._waiting_rows.values() for row in pending}
        if (client_id, key) in waiting or (client_id, suffix_key) in waiting:
            raise duplicate_error()
        if defer:
            taken = self._db.execute(
                "SELECT 1 FROM succeeded WHERE client_id = ? AND suffix = ? UNION ALL "
                "SELECT 1 FROM reservations WHERE client_id = ? AND key IN (?, ?) LIMIT 1",
                (client_id, suffix_key[1:], client_id, key, suffix_key)).fetchone()
            if taken:
                raise duplicate_error()
            self._waiting_rows[reservation.number] = rows
            return
        if self._db.execute("SELECT 1 FROM succeeded WHERE client_id = ? AND suffix = ?",
                            (client_id, suffix_key[1:])).fetchone():
            raise duplicate_error()
        try:
            self._db.executemany("INSERT INTO reservations VALUES (?, ?, ?, ?)", rows)
        except sqlite3.IntegrityError:
            raise duplicate_error() from None

    def _write_waiting_reservations(self) -> None:
        """Just before the commit: the rows of the reservations checked in it and still open."""
        waiting, self._waiting_rows = self._waiting_rows, {}
        rows = [row for number, pending in waiting.items() if number in self._open_reservations
                for row in pending]
        if rows:
            self._db.executemany("INSERT INTO reservations VALUES (?, ?, ?, ?)", rows)

    def release_invoice(self, reservation: InvoiceReservation) -> None:
        """Delete the reservation's rows; nothing to do (no commit) when this process freed it already."""
        with self._lock:
            if reservation.number in self._open_reservations:
                self._free(reservation)

    def _free(self, reservation: InvoiceReservation) -> None:
        with self._lock:
            self._open_reservations.discard(reservation.number)
            if self._waiting_rows.pop(reservation.number, None) is not None:
                return  # its rows never went in
            with self._write() as db:
                db.execute("DELETE FROM reservations WHERE client_id = ? AND owner = ?",
                           (reservation.client_id, owner_of(reservation)))

    def invoice_succeeded(self, client_id: str, invoice_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM succeeded WHERE client_id = ? AND suffix = ?",
                                    (client_id, invoice_suffix(invoice_id))).fetchone() is not None
