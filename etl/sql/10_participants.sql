-- Grain: one row per validly randomised participant.
-- Joins randomisation, referral, baseline, events and first specialist; derives age, status and
-- days in study up to the data cut-off. Arm is allocation, not outcome: it may be shown.
-- Age is at the baseline date; only the birth year is known, so it can be one year too high.
-- enrolment_rank follows the allocation sequence: date, then the löpnummer where the log has one,
-- then the row order in the log -- never the study code (its first letter is the specialist's).
-- is_analysed: in Table 1's N and the analysis population; people found ineligible after
-- randomisation count only when `[analysis] count_excluded_after_randomisation` says so.
with
randomisations as (select * from raw.randomisations),
referrals as (select * from raw.referrals),
baseline as (select * from raw.baseline),
events as (select * from raw.events),
assignments as (select * from raw.assignments),

left_study as (
    select study_code, min(event_on) as left_on,
           arg_min(reason, event_on) as left_reason
    from events where event_type = 'left_study' group by study_code
),
stopped_ips as (
    select study_code, min(event_on) as stopped_ips_on,
           arg_min(reason, event_on) as stopped_ips_reason
    from events where event_type = 'stopped_ips' group by study_code
),
first_specialist as (
    select study_code, arg_min(specialist_id, start_on) as specialist_id
    from assignments group by study_code
),

final as (
    select
        r.study_code,
        f.district_id,
        r.arm,
        r.randomised_on,
        date_trunc('month', r.randomised_on)::date as randomised_month,
        f.referred_on,
        f.referral_source,
        f.info_meeting_on,
        f.consent_on,
        f.baseline_on,
        b.gender,
        b.birth_year,
        year(b.baseline_on) - b.birth_year as age,
        age_band(year(b.baseline_on) - b.birth_year) as age_band,  -- bands: schema/vocab.py AGE_BANDS
        b.born_in_sweden, b.education, b.housing, b.income_source, b.civil_status,
        b.worked_before, b.longest_job_5y, b.used_drugs_ever, b.drugs_30d, b.alcohol_30d,
        b.sud_treatment_ever, b.legal_problems_30d, b.psychiatric_diagnosis,
        b.mental_health_treatment,
        s.specialist_id,
        l.left_on,
        l.left_reason,
        l.left_on is not null as is_left,
        st.stopped_ips_on,
        st.stopped_ips_reason,
        st.stopped_ips_on is not null as is_stopped_ips,
        (coalesce(l.left_on, $cutoff::date) - r.randomised_on) as days_in_study,
        r.allocation_number,
        r.source_row as log_row,
        row_number() over (order by r.randomised_on, r.allocation_number nulls last, r.source_row) as enrolment_rank,
        r.excluded_after_on,
        r.excluded_after_reason,
        r.excluded_after_on is not null as is_excluded_after_randomisation,
        (r.excluded_after_on is null or $count_excluded_after::boolean) as is_analysed
    from randomisations r
    join referrals f using (study_code)
    left join baseline b using (study_code)
    left join left_study l using (study_code)
    left join stopped_ips st using (study_code)
    left join first_specialist s using (study_code)
)
select * from final
