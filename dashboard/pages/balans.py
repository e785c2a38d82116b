"""Balans: are the arms alike at baseline — at each frozen third of enrolment and now?"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from dashboard import balance, formats, privacy, ui
from dashboard import queries as q
from dashboard.contract import vocab

ctx = ui.page("balans")
config = ctx.config
count = ui.counter(ctx)
rule = privacy.policy(ctx.viewer, config)
threshold = config.balance.smd_threshold
expected_women = config.balance.expected_share_women


sizes = balance.checkpoint_sizes(config.target_randomised, config.balance.checkpoints)
people = q.participants(ctx.gate, ctx.selected)
sees_whole_study = len(ctx.gate.districts) == len(config.districts)
study_total = len(q.participants(ctx.gate, ctx.gate.districts)) if sees_whole_study else None
frozen = q.balance_checkpoints_frozen(ctx.gate)
frozen_rows = q.balance_checkpoint_rows(ctx.gate, ctx.selected)
frozen_on = {int(r["checkpoint"]): r["reached_on"] for _, r in frozen.iterrows()}
frozen_size = {int(r["checkpoint"]): json.loads(r["payload"]).get("size") for _, r in frozen.iterrows()}
# Which extract each snapshot froze (issue 12): the extract date of the load that first reached the
# checkpoint and when that load ran; the checkpoint itself may have been reached months earlier.
frozen_from = {
    int(r["checkpoint"]): (json.loads(r["payload"]).get("data_cutoff"), pd.Timestamp(r["frozen_at"]))
    for _, r in frozen.iterrows()
}


def frozen_source(k: int) -> str:
    extract, loaded = frozen_from[k]
    return balance.frozen_source_text({"data_cutoff": extract}, loaded)


part = {2: "halva", 3: "tredjedel", 4: "fjärdedel"}.get(
    config.balance.checkpoints, f"1/{config.balance.checkpoints}-del"
)
st.markdown(
    f"**Vad är en kontrollpunkt?** Efter varje {part} av målet ({config.target_randomised} randomiserade) "
    "jämförs grupperna: kön och ålder per grupp och standardiserade medelvärdesskillnader (SMD) för alla "
    "bakgrundsfaktorer. Är grupperna olika kan styrgruppen besluta om stratifiering för nästa del. Vid den "
    "inläsning då kontrollpunkten nås **fryses** deltagarna och deras baslinjeuppgifter: den bilden ändras "
    "inte när senare data eller rättelser kommer in. Fliken **Nuläge** räknas alltid om från aktuella data."
)
st.caption(
    f"SMD = skillnaden mellan grupperna i standardavvikelser (kategoriska variabler enligt Yang & Dalton 2012). "
    f"|SMD| över {balance.sv_number(threshold)} flaggas som tecken på obalans. Förväntad andel kvinnor i målgruppen: "
    f"{formats.pct(expected_women, 1)}."
)

# --- checkpoint status -------------------------------------------------------------------------------
rows = []
for k, size in enumerate(sizes, start=1):
    if k in frozen_on:
        status = f"Nådd {formats.sv_date(pd.Timestamp(frozen_on[k]).date())} – fryst ur {frozen_source(k)}"
    elif study_total is not None and study_total >= size:
        status = "Nådd – fryses vid nästa inläsning"
    elif study_total is not None:
        status = f"Ej nådd – {size - study_total} randomiserade till behövs"
    else:
        status = f"Ej nådd – nås vid {size} randomiserade i hela studien"
    rows.append({"Kontrollpunkt": k, "Randomiserade i studien": size, "Status": status})
status_table = pd.DataFrame(rows)
st.subheader("Kontrollpunkter")
st.dataframe(status_table, hide_index=True, width="stretch")
ui.downloads(status_table, "Balans kontrollpunkter", "dl_bal_status")


# --- one balance view (frozen or current) ------------------------------------------------------------


def _tables(frame: pd.DataFrame, arms: list[str]) -> dict:
    """The view's tables (pure functions of the frame): cached per store, scope, selection and view."""
    out = {
        "shares": balance.share_by_arm(frame, "gender", vocab.GENDER, arms),
        "ages": balance.age_summary(frame, arms),
        "bands": balance.age_bands_by_arm(frame, arms),
        "table": balance.table_one(frame, arms),
        "age_box": balance.age_box_stats(frame),
    }
    if len(arms) >= 2:
        out["smd"] = balance.flagged_smd(balance.smd_table(frame, arms[0], arms[1]), threshold)
    return out


def women_share(part: pd.DataFrame) -> str:
    """Share of women; hidden ("–") for a suppressed role when any gender count in the group is small
    (with the group's size shown the share would give the count back)."""
    counts = [int((part["gender"] == key).sum()) for key in vocab.GENDER.keys]
    rule = privacy.policy(ctx.viewer, config)
    if rule is not None and rule.text in privacy.suppress_counts(counts, rule.threshold, rule.text):
        return "–"
    return formats.pct(int((part["gender"] == "woman").sum()), int(part["gender"].notna().sum()))


def balance_view(frame: pd.DataFrame, key: str, topic: str) -> None:
    if frame.empty:
        ui.empty("Inga deltagare i urvalet vid den här tidpunkten.")
        return
    arms = sorted(frame["arm"].dropna().unique(), key=str)
    tables = ui.memo(ctx, "balance_tables", lambda: _tables(frame, arms), key)
    cols = st.columns(2 + len(arms))
    cols[0].metric("Deltagare", count(len(frame)))
    cols[1].metric(
        "Andel kvinnor, alla",
        women_share(frame),
        delta=f"förväntat {formats.pct(expected_women, 1)}",
        delta_color="off",
        delta_arrow="off",
    )
    for col, arm in zip(cols[2:], arms, strict=True):
        part = frame[frame["arm"] == arm]
        col.metric(
            f"{arm}: andel kvinnor",
            women_share(part),
            delta=f"n = {count(len(part))}",
            delta_color="off",
            delta_arrow="off",
        )
    if len(arms) < 2:
        st.info("Bara en grupp finns i urvalet, så grupperna kan inte jämföras.", icon="ℹ️")
    elif len(frame) < 20:
        st.warning("Få deltagare i urvalet: skillnader mellan grupperna blir slumpmässigt stora.", icon="⚠️")

    left, right = st.columns(2)
    with left:
        st.markdown("**Kön per grupp**")
        shares = tables["shares"]
        # The dataset goes to the browser whole: counts and shares suppressed per arm as in a table.
        chart_shares = privacy.chart_frame(
            ctx.viewer, config, shares, ["Antal"], shares={"Andel": "Antal"}, group_by="Grupp", rows=False
        )
        ui.chart(ctx, "balance_gender", lambda: balance.gender_chart(chart_shares, expected_women), key)
        st.caption(f"Streckad linje: förväntad andel kvinnor i målgruppen ({formats.pct(expected_women, 1)}).")
    with right:
        st.markdown("**Ålder vid baslinjen per grupp**")
        ui.chart(ctx, "balance_age", lambda: balance.age_chart(tables["age_box"]), key)
        st.caption("Låda: kvartiler och median; streck: lägsta–högsta.")
    st.caption("Underlag till diagrammet Kön per grupp:")
    ui.downloads(
        ui.suppress_table(
            ctx,
            shares.rename(columns={"Nivå": "Kön"}),
            ["Antal"],
            shares={"Andel": "Antal"},
            group_by="Grupp",
            rows=False,
        ),
        f"{topic} kön per grupp",
        f"{key}_gender",
    )
    st.markdown("**Ålder vid baslinjen per grupp**")
    # A group of a few: its size masked, and its ages with it (they would describe those few).
    ages = ui.suppress_table(
        ctx, tables["ages"], ["n"], shares={c: "n" for c in ["Medelålder", "SD", "Median", "Min", "Max"]}, rows=False
    )
    st.dataframe(ages, hide_index=True, width="stretch")
    ui.downloads(ages, f"{topic} ålder per grupp", f"{key}_age")
    bands = tables["bands"]
    wide = bands.pivot(index="Åldersgrupp", columns="Grupp", values="Antal").reset_index()
    wide.columns.name = None
    st.markdown("**Åldersgrupper per grupp (antal)**")
    wide = ui.suppress_table(ctx, wide, [a for a in arms])
    st.dataframe(wide, hide_index=True, width="stretch")
    ui.downloads(wide, f"{topic} åldersgrupper", f"{key}_bands")

    table = tables["table"]
    count_columns = [c for c in table.columns if c.endswith("· n")]
    # Each characteristic's levels add up to the group's size: one block per characteristic; the
    # per-cent beside a hidden count is hidden with it.
    table = ui.suppress_table(
        ctx,
        table,
        count_columns,
        group_by="Egenskap",
        shares={c[:-1] + "%": c for c in count_columns if c[:-1] + "%" in table.columns},
    )
    if len(arms) >= 2:
        st.markdown(f"**Standardiserad medelvärdesskillnad (SMD) mellan {arms[0]} och {arms[1]}**")
        smd = tables["smd"]
        if rule is not None:
            # With the group sizes and the total shown, a characteristic's SMD gives its masked counts
            # back (two arms, two levels: two equations): hidden wherever a count of it is masked.
            smd = balance.smd_masked(smd, table, count_columns, rule.text)
        flagged = smd[smd["Bedömning"].str.startswith("⚠")]
        if len(flagged):
            st.warning(
                f"{len(flagged)} egenskap(er) har |SMD| > {balance.sv_number(threshold)}: "
                + ", ".join(flagged["Egenskap"])
                + ".",
                icon="⚠️",
            )
        else:
            st.success(f"Ingen egenskap har |SMD| > {balance.sv_number(threshold)}.", icon="✅")
        st.caption(
            "Flaggan är en signal att titta närmare, inget test: med några tiotal per grupp ger slumpen "
            "ofta |SMD| över gränsen, särskilt för egenskaper med många svarsalternativ."
        )
        ui.chart(ctx, "balance_smd", lambda: balance.smd_chart(smd, threshold), key, rule is not None)
        st.dataframe(
            # A hidden SMD is "–" (the grid would write "None"): the column as text with three decimals.
            smd.assign(SMD=["–" if pd.isna(v) else formats.number_text(v, 3) for v in smd["SMD"]])
            if smd["SMD"].isna().any()
            else smd,
            hide_index=True,
            width="stretch",
            height=38 + 35 * len(smd),
        )
        ui.downloads(smd, f"{topic} SMD", f"{key}_smd")

    st.markdown("**Bakgrundsfaktorer per grupp (som Tabell 1 i delrapporten)**")
    # The arms side by side under short headers ("IPS+TAU n", "%"; the full name as help), the total
    # column pair in the download only: eight columns do not fit a laptop's width beside the sidebar
    # with the characteristics' and levels' names whole.
    headers = {}
    for c in count_columns:
        group = c.removesuffix(" · n")
        headers[c] = (f"{group.split(' (n=')[0]} n", f"{group}: antal")
        if f"{group} · %" in table.columns:
            headers[f"{group} · %"] = ("%", f"{group}: procent av dem som besvarat frågan")
    on_screen = [c for c in table.columns if not c.startswith("Totalt (n=")]
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        height=min(38 + 35 * len(table), 720),
        # The grid sizes a column by its first rows; longer names come further down: widths that fit them.
        column_config={
            **ui.short_headers(headers),
            "Egenskap": st.column_config.Column(width=310),
            "Nivå": st.column_config.Column(width=240),
        },
        column_order=on_screen if len(on_screen) > 3 else None,
    )
    st.caption(
        "n och % per rad; procent räknas på dem som besvarat frågan (n=… i radens namn när uppgift saknas "
        "för några). Ålder: medelvärde (lägsta–högsta). "
        + ("Kolumnerna för alla grupper tillsammans (Totalt) finns i nedladdningen. " if len(on_screen) > 3 else "")
        + balance.AGE_NOTE
    )
    ui.downloads(table, f"{topic} bakgrundsfaktorer", f"{key}_table1")


# --- a suppressed role in one district: the baseline only for all districts -------------------------
if rule is not None and ui.scope(ctx) != privacy.SCOPE_ALL:  # (a one-district study is all districts)
    # All districts minus the others gives one district's figures back: every scope's tables are
    # suppressed on their own, so a district's masked count could be worked out from the others'
    # (docs/access.md, baseline family).
    st.info(
        "Bakgrundsfaktorer per grupp visas för din roll bara för alla stadsdelar tillsammans: i en enskild "
        "stadsdel kunde små antal räknas fram ur helheten och de andra stadsdelarna. Välj alla stadsdelar i "
        "sidomenyn.",
        icon="🔒",
    )
    st.stop()

# --- tabs: current state first, then each checkpoint -------------------------------------------------
labels = ["Nuläge"] + [f"Kontrollpunkt {k} ({size})" for k, size in enumerate(sizes, start=1)]
tabs = st.tabs(labels)
# A suppressed role gets everyone randomised (intention to treat): with the analysed population, the
# group sizes (any complete block of Table 1 adds up to them) would give back the count excluded after
# randomisation per arm, which the attrition family may hide (privacy.attrition_hidden_scopes).
everyone_randomised = rule is not None
ITT_NOTE = " Alla randomiserade räknas (intention att behandla), även de som exkluderats efter randomiseringen."


def population(rows: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The rows the balance is computed over, and how many randomised are left out."""
    if everyone_randomised:
        return rows, 0
    return balance.analysed_rows(rows, people)


with tabs[0]:
    analysed, excluded_after = population(people)
    note = (
        ITT_NOTE
        if everyone_randomised
        else f" {excluded_after} som exkluderats efter randomiseringen räknas inte (studiekonfigurationen, [analysis])."
        if excluded_after
        else ""
    )
    st.caption(
        f"Alla randomiserade t.o.m. {formats.sv_date(ctx.cutoff)} i valda stadsdelar, med dagens baslinjeuppgifter."
        + note
    )
    balance_view(analysed, "bal_now", "Balans nuläge")
for k, size in enumerate(sizes, start=1):
    with tabs[k]:
        if k not in frozen_on:
            if study_total is not None and study_total < size:
                st.info(
                    f"Kontrollpunkt {k} nås när {size} har randomiserats. Hittills {study_total}: "
                    f"**{size - study_total} till** behövs.",
                    icon="⏳",
                )
            elif study_total is None:
                st.info(f"Kontrollpunkt {k} nås när {size} har randomiserats i hela studien.", icon="⏳")
            else:
                st.info(
                    f"{size} har randomiserats men kontrollpunkten frystes inte än; den fryses vid nästa inläsning.",
                    icon="⏳",
                )
            continue
        # The same analysis population as the live tab and Table 1 (issue 12).
        rows_k, excluded_k = population(frozen_rows[frozen_rows["checkpoint"] == k])
        st.caption(
            f"Fryst bild: de första {frozen_size.get(k) or size} randomiserade i studien. Kontrollpunkten nåddes "
            f"{formats.sv_date(pd.Timestamp(frozen_on[k]).date())}; bilden frystes ur {frozen_source(k)}, "
            "med baslinjeuppgifterna som de var i det uttaget. "
            f"I valda stadsdelar: {count(len(rows_k))} deltagare."
            + (
                ITT_NOTE
                if everyone_randomised
                else f" {count(excluded_k)} som exkluderats efter randomiseringen räknas inte (studiekonfigurationen, "
                "[analysis])."
                if excluded_k
                else ""
            )
        )
        balance_view(rows_k, f"bal_cp{k}", f"Balans kontrollpunkt {k}")
