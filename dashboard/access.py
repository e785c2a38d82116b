"""Who sees what: roles, district scope and the outcome lock, enforced in the one gate every query
passes through.

Pages never name a table of the store. They call query functions (`dashboard/queries.py`) which
run SQL through `Gate.frame`, and that SQL may only use the views the gate creates on its own
cursor for this viewer:

- district-scoped views of the derived tables (an enhetschef's views hold only their districts'
  rows, so no chart, table, download or report can show another district);
- arm labels already coded ("Grupp A/B") for blinded roles;
- outcome views only once the study is closed (an audited act in `meta.audit_log`); while it is
  locked they do not exist and any SQL naming a store schema directly is refused.
"""

from __future__ import annotations

import logging
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from dashboard import navigation
from schema.sources import SOURCES

ROLES: dict[str, str] = {
    "projektledare": "Projektledare",
    "projektgrupp": "Projektgrupp",
    "styrgrupp": "Styrgrupp",
    "enhetschef": "Enhetschef",
    "forskare": "Forskningsansvarig (blindad)",
    "admin": "Administratör",
}
# Roles that see data-quality details (rejected rows with their values, file names).
DATA_QUALITY_ROLES = {"projektledare", "admin"}
# Roles whose figures leave the project group: small cells are suppressed for them.
SUPPRESSED_ROLES = {"styrgrupp"}
# Roles that see arms only under coded labels until the study is closed.
BLINDED_ROLES = {"forskare"}
# Roles that may see outcomes once the study is closed.
OUTCOME_ROLES = {"projektledare", "projektgrupp", "styrgrupp", "forskare", "admin"}
# Roles that may choose an as-of date earlier than the extract (the roles that prepare meetings).
# Not styrgrupp: two as-of dates could be differenced to recover a masked count (a difference of
# one person's event), so the steering group sees only the extract's own date.
ASOF_ROLES = {"projektledare", "projektgrupp", "admin"}


# Pages that change what is published (upload, check, publish, roll back): project lead and admin.
PUBLISHING_ROLES = {"projektledare", "admin"}
# Roll back to the previous source set: admin only.
ROLLBACK_ROLES = {"admin"}
# Pages per role, from the one page registry (dashboard/navigation.py).
ALL_PAGES: tuple[str, ...] = tuple(p.key for p in navigation.PAGES)
PAGES_BY_ROLE: dict[str, tuple[str, ...]] = {role: navigation.keys_for(role) for role in ROLES}


class AccessDenied(Exception):
    """A query or page the viewer may not see. The message is Swedish and names no data."""


class OutcomesLocked(AccessDenied):
    def __init__(self) -> None:
        super().__init__("Utfallen är låsta tills studien har stängts.")


class QueryFailed(Exception):
    """A query that DuckDB could not run; the message names no data (details in the server log)."""

    def __init__(self) -> None:
        super().__init__("Frågan kunde inte köras. Detaljer finns i serverns logg.")


@dataclass(frozen=True)
class Viewer:
    role: str
    districts: tuple[str, ...] | None = None  # None = every district
    user: str = "demo"

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise AccessDenied(f"Okänd roll: {self.role}")
        if self.role == "enhetschef" and not self.districts:
            raise AccessDenied("En enhetschef måste ha minst en stadsdel.")

    @property
    def is_blinded(self) -> bool:
        return self.role in BLINDED_ROLES

    @property
    def suppress_small_cells(self) -> bool:
        return self.role in SUPPRESSED_ROLES

    @property
    def sees_data_quality(self) -> bool:
        return self.role in DATA_QUALITY_ROLES

    def label(self) -> str:
        text = ROLES[self.role]
        if self.districts:
            return f"{text} ({', '.join(self.districts)})"
        return text


@dataclass(frozen=True)
class StudyState:
    """Whether the study is closed (outcomes unlocked), read from the audit table."""

    closed: bool
    closed_at: datetime | None = None
    closed_by: str | None = None
    note: str | None = None
    data_cutoff: date | None = None


# Sources whose values are outcomes: never shown, not even in a rejected row, while locked.
SEALED_SOURCES = frozenset(s.key for s in SOURCES if s.sealed)


def rejected_values_visible(source_key: str, state: StudyState) -> bool:
    """May a rejected row's values of this source be shown (page, fix-list workbook, CLI)?"""
    return state.closed or source_key not in SEALED_SOURCES


def read_config(con: duckdb.DuckDBPyConnection):
    """The study configuration the store was loaded with."""
    import json

    from schema.config import StudyConfig

    return StudyConfig.model_validate(json.loads(con.execute("select config from meta.study_config").fetchone()[0]))


def read_study_state(con: duckdb.DuckDBPyConnection) -> StudyState:
    row = con.execute(
        'select "at", actor, detail, data_cutoff from meta.audit_log '
        "where action = 'close_study' order by \"at\" limit 1"
    ).fetchone()
    if row is None:
        return StudyState(closed=False)
    return StudyState(closed=True, closed_at=row[0], closed_by=row[1], note=row[2], data_cutoff=row[3])


# Derived tables a page may read, with the column that scopes them to districts.
SCOPED_TABLES: dict[str, str] = {
    "participants": "mart.participants",
    "referral_funnel": "mart.referral_funnel",
    "recruitment_monthly": "mart.recruitment_monthly",
    "followup_status": "mart.followup_status",
    "caseload_daily": "mart.caseload_daily",
    "balance_checkpoint_rows": "meta.balance_checkpoint_rows",
    "specialist_roster": "mart.specialist_roster",
}
# Tables with an `arm` column: replaced by a label (coded for blinded roles).
ARM_TABLES = {"participants", "referral_funnel", "followup_status", "balance_checkpoint_rows"}
# Shared across districts, not about participants.
UNSCOPED_TABLES: dict[str, str] = {
    "fidelity_items": "mart.fidelity_items",
    "arms": "meta.arms",
    "loads": "meta.loads",
    "load_files": "meta.load_files",
    "balance_checkpoints": "meta.balance_checkpoints",
    "report_snapshots": "meta.report_snapshots",
}
# Outcome data: views exist only after close.
SEALED_TABLES: dict[str, str] = {"outcome_activity": "sealed.activity", "outcome_employment": "sealed.employment"}
# What only the intervention arm can have: with coded arms beside them they would tell which code
# is IPS. For a blinded role (until close) these columns are blanked in every view (NULL; the flag
# false, so code that filters on it keeps working), and the tables that describe specialists and
# their caseloads are empty.
ONE_ARM_COLUMNS: dict[str, dict[str, str]] = {
    "participants": {
        "specialist_id": "NULL::varchar",
        "stopped_ips_on": "NULL::date",
        "stopped_ips_reason": "NULL::varchar",
        "is_stopped_ips": "false",
    },
    "followup_status": {"specialist_id": "NULL::varchar"},
}
ONE_ARM_TABLES = {"caseload_daily", "specialist_roster"}

_LOG = logging.getLogger(__name__)

# Schema-qualified names (quoted or not): pages may only use the gate's unqualified temp views.
_STORE_SCHEMA = re.compile(
    r'"?\b(raw|mart|meta|sealed|main|temp|system|memory|information_schema|duckdb_\w+|pg_catalog)\b"?\s*\.',
    re.I,
)
# Inside a SELECT, table and scalar functions that reach outside the views (files, other queries,
# settings, the catalogue). Statement kinds other than SELECT are refused by DuckDB's own parser.
_FORBIDDEN_CALLS = re.compile(
    r"\b(read_\w+|glob|query|query_table|sniff_csv|parquet_\w+|getenv|getvariable|current_setting|"
    r"duckdb_\w+|pragma_\w+|checkpoint|force_checkpoint|which_secret|load_\w+)\s*\(",
    re.I,
)
_OUTCOME_NAMES = re.compile(r"\boutcome_\w+|\bsealed\b", re.I)


def sealed_source_keys() -> tuple[str, ...]:
    """The sources whose values are outcomes (sealed until close), from the contract."""
    return tuple(sorted(SEALED_SOURCES))


def _normalized_sql(sql: str) -> str:
    """The SQL as DuckDB tokenises it, without comments and string contents and with identifier
    quotes removed, so `"sealed" /* x */ . activity` cannot slip past the checks."""
    tokens = duckdb.tokenize(sql)
    parts = []
    for i, (pos, kind) in enumerate(tokens):
        end = tokens[i + 1][0] if i + 1 < len(tokens) else len(sql)
        text = sql[pos:end].strip()
        if kind == duckdb.token_type.comment:
            continue
        if kind == duckdb.token_type.string_const:
            parts.append("''")
            continue
        parts.append(text.replace('"', ""))
    return " ".join(parts)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Gate:
    """The one door to the store for a viewer; create one per script run on a fresh cursor."""

    def __init__(
        self, cursor: duckdb.DuckDBPyConnection, viewer: Viewer, state: StudyState | None = None, store_id: str = ""
    ):
        self._cur = cursor
        self.viewer = viewer
        self.store_id = store_id  # the store file; part of every cache key
        self.state = state if state is not None else read_study_state(cursor)
        # Districts in the configuration's order (the order the study added them).
        known = [r[0] for r in cursor.execute("select district_id from meta.districts order by rowid").fetchall()]
        if viewer.districts is not None:
            unknown = set(viewer.districts) - set(known)
            if unknown:
                raise AccessDenied("Rollen pekar på stadsdelar som inte finns i studien.")
            self.districts: tuple[str, ...] = tuple(d for d in known if d in viewer.districts)
        else:
            self.districts = tuple(known)
        self._known = tuple(known)
        self._create_views()

    # -- views ----------------------------------------------------------------------------------
    def _arm_expr(self) -> str:
        column = "blinded_label" if (self.viewer.is_blinded and not self.state.closed) else "label"
        return f"(select a.{column} from meta.arms a where a.key = t.arm)"

    @property
    def coded(self) -> bool:
        """Arms are shown coded to this viewer (a blinded role while the study is locked)."""
        return self.viewer.is_blinded and not self.state.closed

    def arm_labels(self, config) -> list[str]:
        """The arm labels this viewer sees, in display order. Coded labels are sorted by the code,
        never in the configuration's order (which would tell which code is listed first there)."""
        if self.coded:
            return sorted(a.blinded_label for a in config.arms)
        return [a.label for a in config.arms]

    def _columns(self, name: str, table: str) -> str:
        """The select list of the view `name` over `table` for this viewer."""
        replace = []
        if name in ARM_TABLES:
            replace.append(f"{self._arm_expr()} as arm")
        exclude = []
        if self.coded:
            replace += [f"{blank} as {column}" for column, blank in ONE_ARM_COLUMNS.get(name, {}).items()]
            # Per-arm counts stored in columns named after the arm's key (e.g. ips_n).
            cols = [r[0] for r in self._cur.execute(f"select * from {table} limit 0").description]
            keys = [r[0] for r in self._cur.execute("select key from meta.arms").fetchall()]
            exclude = [c for c in cols if any(c == k or c.startswith(f"{k}_") for k in keys)]
        out = "*"
        if exclude:
            out += f" exclude ({', '.join(exclude)})"
        if replace:
            out += f" replace ({', '.join(replace)})"
        return out

    def _create_views(self) -> None:
        if self.viewer.districts is None and self.districts == self._known:
            # Every district: the same set as the literal list below, read from the same table,
            # but cheap to bind (a literal list of hundreds of ids costs ~50 ms per run and query).
            scope = "select district_id from meta.districts"
        else:
            scope = ", ".join(_quote(d) for d in self.districts) or "NULL"
        existing = {
            f"{s}.{t}"
            for s, t in self._cur.execute(
                "select schema_name, table_name from duckdb_tables() where database_name = current_database()"
            ).fetchall()
        }
        for name, table in SCOPED_TABLES.items():
            if table not in existing:
                continue
            where = f"t.district_id in ({scope})"
            if self.coded and name in ONE_ARM_TABLES:
                where = "false"
            self._cur.execute(
                f"create or replace temp view {name} as "
                f"select {self._columns(name, table)} from {table} t where {where}"
            )
        self._cur.execute(
            f"create or replace temp view districts as select * from meta.districts where district_id in ({scope})"
        )
        for name, table in UNSCOPED_TABLES.items():
            if table not in existing:
                continue
            cols = "*"
            if name == "arms" and self.coded:
                cols = "* replace (blinded_label as key, blinded_label as label)"
            self._cur.execute(f"create or replace temp view {name} as select {cols} from {table}")
        if self.viewer.sees_data_quality and "meta.rejected_rows" in existing:
            # A rejected row from a sealed source (employment, activity) keeps file, row, column and
            # reason, but never its value while the study is locked: the value is an outcome.
            cols = "*"
            if not self.state.closed:
                sealed = ", ".join(_quote(k) for k in sealed_source_keys()) or "NULL"
                cols = (
                    f"* replace (case when source_key in ({sealed}) then NULL else value end as value, "
                    f"case when source_key in ({sealed}) and coalesce(value, '') <> '' "
                    f"then replace(reason, value, '…') else reason end as reason)"
                )
            self._cur.execute(f"create or replace temp view rejected_rows as select {cols} from meta.rejected_rows")
        if self.viewer.sees_data_quality:
            # Warnings on the randomisation log's löpnummer (issue 12): for the data steward only; empty
            # for a store loaded before the check existed.
            source = (
                "select * from mart.allocation_checks"
                if "mart.allocation_checks" in existing
                else "select null::varchar as problem, null::integer as allocation_number, "
                "null::varchar as study_codes, null::varchar as message_sv where false"
            )
            self._cur.execute(f"create or replace temp view allocation_checks as {source}")
        if self.state.closed and self.viewer.role in OUTCOME_ROLES:
            for name, table in SEALED_TABLES.items():
                if table in existing:
                    # Outcomes are scoped through the participant's district too.
                    self._cur.execute(
                        f"create or replace temp view {name} as select o.* from {table} o "
                        f"join participants p using (study_code)"
                    )

    # -- queries ----------------------------------------------------------------------------------
    def check(self, sql: str) -> None:
        """Refuse SQL that bypasses the views or could change anything. Checked on the raw text
        and on DuckDB's own tokens (comments and string contents removed)."""
        try:
            normalized = _normalized_sql(sql)
        except Exception:  # noqa: BLE001 - what DuckDB cannot tokenise is not run
            raise AccessDenied("Frågan kunde inte tolkas.") from None
        if _OUTCOME_NAMES.search(sql) or _OUTCOME_NAMES.search(normalized):
            if not self.state.closed:
                raise OutcomesLocked()
            if self.viewer.role not in OUTCOME_ROLES:
                raise AccessDenied("Rollen får inte se utfall.")
        if _STORE_SCHEMA.search(sql) or _STORE_SCHEMA.search(normalized):
            raise AccessDenied("Frågan får bara använda dashboardens vyer, inte databasens tabeller direkt.")
        try:
            statements = duckdb.extract_statements(sql)
        except duckdb.Error:
            raise AccessDenied("Frågan kunde inte tolkas.") from None
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            raise AccessDenied("Frågan får bara läsa data.")
        if _FORBIDDEN_CALLS.search(normalized):
            raise AccessDenied("Frågan får bara läsa data.")

    def _execute(self, sql: str, params: dict[str, Any] | None):
        self.check(sql)
        try:
            return self._cur.execute(sql, params or {})
        except duckdb.Error as exc:
            # DuckDB's messages can quote cell values (e.g. a failed cast): log them on the server,
            # show the viewer a message that names no data.
            _LOG.error("query failed for role %s: %s", self.viewer.role, exc)
            raise QueryFailed() from None

    def frame(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self._execute(sql, params).df()

    def scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        row = self._execute(sql, params).fetchone()
        return None if row is None else row[0]

    def require_outcomes(self) -> None:
        if not self.state.closed:
            raise OutcomesLocked()
        if self.viewer.role not in OUTCOME_ROLES:
            raise AccessDenied("Rollen får inte se utfall.")

    @property
    def cache_key(self) -> str:
        """Everything that changes what this gate returns: used in every cache key."""
        scope = ",".join(self.districts)
        return f"{self.viewer.role}|{scope}|closed={self.state.closed}"


def parse_demo_role(text: str) -> Viewer:
    """`enhetschef:Södermalm,jarva` or `styrgrupp` → Viewer (districts by id or name resolved later)."""
    role, _, rest = text.partition(":")
    districts = tuple(d.strip() for d in rest.split(",") if d.strip()) or None
    return Viewer(role=role.strip(), districts=districts)


@dataclass
class RoleFile:
    """users (e-mail) → role and districts, from `.streamlit/roles.toml` (see docs/access.md).

    District names are kept as written (name, former name, alias or id); they are resolved against
    the study configuration when the store is opened."""

    users: dict[str, Viewer] = field(default_factory=dict)

    def viewer_for(self, email: str | None) -> Viewer | None:
        if not email:
            return None
        return self.users.get(normalize_email(email))


class RoleFileError(Exception):
    """The roles file is missing or invalid: nobody gets in (the message names no user)."""


def normalize_email(email: str) -> str:
    return str(email).strip().lower()


def parse_roles(text: str) -> RoleFile:
    """Parse the roles file:

    ```toml
    [users."anna.andersson@stockholm.se"]
    role = "enhetschef"
    districts = ["Södermalm"]
    ```
    Any error refuses the whole file (fail closed)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RoleFileError(f"rollfilen är ingen giltig TOML ({type(exc).__name__})") from None
    unknown = set(data) - {"users"}
    if unknown:
        raise RoleFileError("rollfilen får bara innehålla tabellen [users]")
    users: dict[str, Viewer] = {}
    for email, entry in (data.get("users") or {}).items():
        key = normalize_email(email)
        if "@" not in key:
            raise RoleFileError("varje användare i rollfilen anges med sin e-postadress")
        if not isinstance(entry, dict) or set(entry) - {"role", "districts", "name"}:
            raise RoleFileError("en användare i rollfilen har okända fält (tillåtna: role, districts, name)")
        role = entry.get("role")
        districts = entry.get("districts")
        if districts is not None and (
            not isinstance(districts, list) or not all(isinstance(d, str) and d.strip() for d in districts)
        ):
            raise RoleFileError("districts i rollfilen ska vara en lista med stadsdelsnamn")
        if role != "enhetschef" and districts:
            raise RoleFileError("bara rollen enhetschef begränsas till stadsdelar i rollfilen")
        if key in users:
            raise RoleFileError("en e-postadress förekommer två gånger i rollfilen")
        try:
            users[key] = Viewer(
                role=str(role), districts=tuple(d.strip() for d in districts) if districts else None, user=key
            )
        except AccessDenied as exc:
            raise RoleFileError(f"rollfilen: {exc}") from None
    return RoleFile(users=users)


def load_roles(path: Path) -> RoleFile:
    """The roles file, scanned for personnummer like every other input before it is used: a hit
    refuses the whole file (nobody gets in) with the place named and the number masked."""
    from etl import scan

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RoleFileError("rollfilen saknas") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RoleFileError(f"rollfilen kan inte läsas ({type(exc).__name__})") from None
    try:
        scan.scan_file(Path(path), f"rollfilen {Path(path).name}")
    except scan.PnrRefused as exc:
        raise RoleFileError(str(exc)) from None
    except scan.SourceFileError as exc:
        raise RoleFileError(f"rollfilen kan inte läsas ({exc})") from None
    return parse_roles(text)


def scoped_config(config, districts: tuple[str, ...]):
    """The study configuration as a viewer limited to `districts` may see it: only their districts
    (names, former names, targets), and the target as the sum of theirs. Pages that list districts
    from the configuration then cannot name another district."""
    if len(districts) == len(config.districts):
        return config
    kept = [d for d in config.districts if d.id in districts]
    return config.model_copy(update={"districts": kept, "target_randomised": sum(d.target for d in kept) or 1})
