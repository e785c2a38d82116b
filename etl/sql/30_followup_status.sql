-- Grain: one row per randomised participant per scheduled follow-up timepoint (config).
-- Due date = randomisation + N months; window [due − before, due + after]. Status at the cut-off:
-- not_due, due (window open), done_on_time, done_late, overdue (window closed, not done),
-- missed (recorded as missed, or not done `missed_after` days after the window closed),
-- not_applicable (left the study before the window closed and nothing was recorded: follow-up
-- is owed only while the participant is in the study).
-- A follow-up done before its window opened counts as done on time (early is not late).
-- is_on_action_list: what a unit manager must act on now — no result yet, still in the study,
-- due within `due_soon` days or overdue, and not yet given up as missed.
-- As of an earlier date than the extract ($cutoff < $extract): a result recorded as "missed" has no
-- date, so it counts as known only once the window had closed by the as-of date; until then the
-- follow-up is open (due / not due, on the to-do list) as if nothing were recorded. At the extract
-- date itself the record is simply known. A person excluded after randomisation is owed no
-- follow-up after the exclusion (as if they had left).
with
participants as (select * from mart.participants),
followups as (select * from raw.followups),
districts as (select district_id, units from meta.districts),

schedule as (
    select p.study_code, p.district_id, p.arm, p.randomised_on,
           case when p.excluded_after_on is not null and (p.left_on is null or p.excluded_after_on < p.left_on)
                then p.excluded_after_on else p.left_on end as left_on,
           p.specialist_id,
           unnest($timepoints::integer[]) as timepoint_months
    from participants p
),
dated as (
    select s.*,
           (s.randomised_on + to_months(s.timepoint_months))::date as due_on
    from schedule s
),
windowed as (
    select d.*,
           (d.due_on - to_days($window_before::integer))::date as window_start,
           (d.due_on + to_days($window_after::integer))::date as window_end
    from dated d
),
recorded as (
    select f.study_code, f.timepoint_months, f.done_on, f.unit,
           case when f.result = 'missed' and not ($cutoff::date > w.window_end or $cutoff::date >= $extract::date)
                then null else f.result end as result
    from followups f
    join windowed w using (study_code, timepoint_months)
),
final as (
    select
        w.study_code, w.district_id, w.arm, w.specialist_id, w.timepoint_months,
        w.randomised_on, w.due_on, w.window_start, w.window_end, w.left_on,
        f.result, f.done_on,
        coalesce(f.unit, dd.units[1]) as unit,
        case
            when f.result = 'done' and f.done_on <= w.window_end then 'done_on_time'
            when f.result = 'done' then 'done_late'
            -- a recorded "missed" carries no date: known at the extract date, and at an earlier
            -- as-of date only once the window had closed (`recorded` above)
            when f.result = 'missed' and $cutoff::date >= w.window_start then 'missed'
            when w.left_on is not null and w.left_on <= w.window_end then 'not_applicable'
            when $cutoff::date < w.window_start then 'not_due'
            when $cutoff::date <= w.window_end then 'due'
            when $cutoff::date <= w.window_end + to_days($missed_after::integer) then 'overdue'
            else 'missed'
        end as status,
        case when f.result is null and w.left_on is null and $cutoff::date > w.window_end
             then ($cutoff::date - w.window_end) end as days_overdue,
        (f.result is null and w.left_on is null
            and w.due_on <= $cutoff::date + to_days($due_soon::integer)
            and $cutoff::date <= w.window_end + to_days($missed_after::integer)) as is_on_action_list
    from windowed w
    left join recorded f using (study_code, timepoint_months)
    left join districts dd on dd.district_id = w.district_id
)
select * from final
