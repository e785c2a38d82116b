-- Grain: one row per referral (a person re-referred under a new code has two rows).
-- How far each referral got in the pipeline referral → information meeting → consent →
-- enrolment interview → baseline → randomisation, where it stopped and why, and the waits.
with
referrals as (select * from raw.referrals),
randomisations as (select * from raw.randomisations),

final as (
    select
        f.study_code,
        f.district_id,
        f.referral_source,
        f.referred_on,
        date_trunc('month', f.referred_on)::date as referred_month,
        f.info_meeting_on,
        f.consent_on,
        f.enrolment_on,
        f.baseline_on,
        r.randomised_on,
        r.arm,
        f.excluded_stage,
        f.exclusion_reason,
        f.previous_code,
        f.previous_code is not null as is_rereferral,
        f.info_meeting_on is not null as reached_info_meeting,
        f.consent_on is not null as reached_consent,
        f.enrolment_on is not null as reached_enrolment,
        f.baseline_on is not null as reached_baseline,
        r.study_code is not null as is_randomised,
        f.excluded_stage is not null as is_excluded,
        (f.excluded_stage is null and r.study_code is null) as is_in_progress,
        case
            when r.study_code is not null then 'randomised'
            when f.baseline_on is not null then 'baseline'
            when f.enrolment_on is not null then 'enrolment'
            when f.consent_on is not null then 'consent'
            when f.info_meeting_on is not null then 'info_meeting'
            else 'referral'
        end as furthest_stage,
        f.info_meeting_on - f.referred_on as days_referral_to_info,
        r.randomised_on - f.baseline_on as days_baseline_to_randomisation,
        r.randomised_on - f.referred_on as days_referral_to_randomisation
    from referrals f
    left join randomisations r using (study_code)
)
select * from final
