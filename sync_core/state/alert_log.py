"""Alerts in the state store: what the alerts last saw of each sync (`alert_state`), the alerts raised on a change
(`alerts`), and their delivery per channel (`alert_deliveries`). sync_core/alerts decides and sends; this part
only stores, so that several observers (workers) raise each alert once and send each delivery once:

- `record_alerts` writes a sync's new alert state and its alerts in one transaction, only if the state is still
  the one the observer read (compare-and-set): the second of two observers of the same runs records nothing.
- `claim_delivery` counts an attempt and sets its retry time before anything is sent, only if no one else claimed
  that attempt: a worker that dies while sending leaves the delivery due again at the retry time.

Times are UTC ISO-8601 strings given by the caller (the worker's tick), so tests control them.

A part of StateStore (a mixin over its connection and write transactions)."""

from __future__ import annotations

from dataclasses import dataclass

from .run_log import RUN_COLUMNS, RunRecord, run_from_row

HEALTHS = ("ok", "failed")
KINDS = ("failed", "recovered", "overdue", "back_on_schedule")
DELIVERY_STATUSES = ("pending", "delivered", "failed")


@dataclass(frozen=True)
class AlertState:
    """What the alerts last saw of a sync. A sync never seen has health None and last_run_id 0."""
    sync_id: str
    health: str | None = None  # HEALTHS
    status: str | None = None  # the status of the run that decided the health
    status_run_id: int | None = None
    overdue: bool = False
    last_run_id: int = 0  # the last run looked at


@dataclass(frozen=True)
class NewAlert:
    kind: str  # KINDS
    run_id: int | None
    subject: str
    message: str


@dataclass(frozen=True)
class DeliveryRecord:
    alert_id: int
    channel: str  # settings.WEBHOOK | settings.EMAIL
    status: str  # DELIVERY_STATUSES
    attempts: int
    next_attempt_at: str | None
    last_error: str | None  # redacted
    delivered_at: str | None


@dataclass(frozen=True)
class AlertRecord:
    id: int
    sync_id: str
    kind: str
    run_id: int | None
    subject: str
    message: str
    created_at: str
    deliveries: tuple[DeliveryRecord, ...] = ()


STATE_COLUMNS = "sync_id, health, status, status_run_id, overdue, last_run_id"
ALERT_COLUMNS = "id, sync_id, kind, run_id, subject, message, created_at"
DELIVERY_COLUMNS = "alert_id, channel, status, attempts, next_attempt_at, last_error, delivered_at"


def _state(row) -> AlertState:
    sync_id, health, status, status_run_id, overdue, last_run_id = row
    return AlertState(sync_id, health, status, status_run_id, bool(overdue), last_run_id)


class AlertLog:
    # ---- what the alerts saw, and the alerts raised ------------------------------------------------------------

    def alert_states(self) -> dict[str, AlertState]:
        return {row[0]: _state(row) for row in self._db.execute(f"SELECT {STATE_COLUMNS} FROM alert_state")}

    def alert_state(self, sync_id: str) -> AlertState:
        return self._alert_state(self._db, sync_id)

    @staticmethod
    def _alert_state(db, sync_id: str) -> AlertState:
        row = db.execute(f"SELECT {STATE_COLUMNS} FROM alert_state WHERE sync_id = ?", (sync_id,)).fetchone()
        return _state(row) if row else AlertState(sync_id)

    def latest_run_ids(self) -> dict[str, int]:
        """sync -> its latest run's id (the runs_by_sync index answers it)."""
        return dict(self._db.execute("SELECT sync_id, MAX(id) FROM runs GROUP BY sync_id").fetchall())

    def runs_after(self, sync_id: str, run_id: int) -> list[RunRecord]:
        """The sync's runs after `run_id`, oldest first."""
        return [run_from_row(r) for r in self._db.execute(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE sync_id = ? AND id > ? ORDER BY id", (sync_id, run_id))]

    def record_alerts(self, seen: AlertState, new: AlertState, alerts: list[NewAlert], channels: tuple[str, ...],
                      at: str) -> list[AlertRecord] | None:
        """Move a sync's alert state from `seen` to `new` and record its alerts, each with a pending delivery per
        channel, due at once; None (nothing written) if the state is no longer `seen`: another observer moved it."""
        assert seen.sync_id == new.sync_id and all(a.kind in KINDS for a in alerts)
        with self._write() as db:
            if self._alert_state(db, seen.sync_id) != seen:
                return None
            db.execute(f"INSERT INTO alert_state ({STATE_COLUMNS}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                       "ON CONFLICT (sync_id) DO UPDATE SET health = excluded.health, status = excluded.status, "
                       "status_run_id = excluded.status_run_id, overdue = excluded.overdue, "
                       "last_run_id = excluded.last_run_id, updated_at = excluded.updated_at",
                       (new.sync_id, new.health, new.status, new.status_run_id, int(new.overdue), new.last_run_id, at))
            recorded = []
            for alert in alerts:
                alert_id = db.execute("INSERT INTO alerts (sync_id, kind, run_id, subject, message, created_at) "
                                      "VALUES (?, ?, ?, ?, ?, ?)", (new.sync_id, alert.kind, alert.run_id,
                                                                    alert.subject, alert.message, at)).lastrowid
                db.executemany("INSERT INTO alert_deliveries (alert_id, channel, status, next_attempt_at) "
                               "VALUES (?, ?, 'pending', ?)", [(alert_id, channel, at) for channel in channels])
                recorded.append(AlertRecord(alert_id, new.sync_id, alert.kind, alert.run_id, alert.subject,
                                            alert.message, at, tuple(DeliveryRecord(alert_id, channel, "pending", 0,
                                                                                    at, None, None)
                                                                     for channel in channels)))
            return recorded

    # ---- deliveries ----------------------------------------------------------------------------------------------

    def due_deliveries(self, at: str) -> list[tuple[AlertRecord, DeliveryRecord]]:
        """Pending deliveries whose next attempt is due at `at`, oldest alert first."""
        rows = self._db.execute(
            "SELECT a.id, a.sync_id, a.kind, a.run_id, a.subject, a.message, a.created_at, d.alert_id, d.channel, "
            "d.status, d.attempts, d.next_attempt_at, d.last_error, d.delivered_at "
            "FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id "
            "WHERE d.status = 'pending' AND d.next_attempt_at <= ? ORDER BY a.id, d.channel", (at,)).fetchall()
        return [(AlertRecord(*row[:7]), DeliveryRecord(*row[7:])) for row in rows]

    def claim_delivery(self, delivery: DeliveryRecord, retry_at: str) -> bool:
        """Count the next attempt of a due delivery as started, due again at `retry_at` unless it is recorded
        before; False if another worker claimed this attempt first."""
        with self._write() as db:
            return db.execute("UPDATE alert_deliveries SET attempts = attempts + 1, next_attempt_at = ? "
                              "WHERE alert_id = ? AND channel = ? AND status = 'pending' AND attempts = ?",
                              (retry_at, delivery.alert_id, delivery.channel, delivery.attempts)).rowcount == 1

    def delivery_sent(self, delivery: DeliveryRecord, at: str) -> None:
        with self._write() as db:
            db.execute("UPDATE alert_deliveries SET status = 'delivered', delivered_at = ?, next_attempt_at = NULL "
                       "WHERE alert_id = ? AND channel = ?", (at, delivery.alert_id, delivery.channel))

    def delivery_failed(self, delivery: DeliveryRecord, error: str, retry_at: str | None) -> None:
        """A failed attempt (`error` already redacted): due again at `retry_at`, or given up (failed) if None."""
        with self._write() as db:
            db.execute("UPDATE alert_deliveries SET status = ?, last_error = ?, next_attempt_at = ? "
                       "WHERE alert_id = ? AND channel = ? AND status = 'pending'",
                       ("pending" if retry_at else "failed", error, retry_at, delivery.alert_id, delivery.channel))

    # ---- for the dashboard ---------------------------------------------------------------------------------------

    def recent_alerts(self, *, sync_id: str | None = None, limit: int = 20) -> list[AlertRecord]:
        """The latest alerts, newest first, each with its deliveries. Empty for a store from before alerts (read
        read-only, without migrating)."""
        if not self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alerts'").fetchone():
            return []
        where, args = ("WHERE sync_id = ?", [sync_id]) if sync_id else ("", [])
        with self._consistent_read():
            alerts = self._db.execute(f"SELECT {ALERT_COLUMNS} FROM alerts {where} ORDER BY id DESC LIMIT ?",
                                      (*args, int(limit))).fetchall()
            ids = [row[0] for row in alerts]
            deliveries: dict[int, list[DeliveryRecord]] = {}
            for row in self._db.execute(f"SELECT {DELIVERY_COLUMNS} FROM alert_deliveries WHERE alert_id IN "
                                        f"({', '.join('?' * len(ids))}) ORDER BY channel", ids):
                deliveries.setdefault(row[0], []).append(DeliveryRecord(*row))
        return [AlertRecord(*row, tuple(deliveries.get(row[0], ()))) for row in alerts]
