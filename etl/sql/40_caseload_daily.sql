-- Grain: one row per specialist per district per day of the specialist's service up to the cut-off.
-- Active caseload = IPS participants assigned that day, counting an assignment until it ends, the
-- participant stops IPS or leaves the study. Split by participant district so that a unit
-- manager's view counts only their own district's participants.
with
specialists as (select * from raw.specialists),
assignments as (select * from raw.assignments),
participants as (select study_code, district_id, left_on, stopped_ips_on from mart.participants),

-- Service days per roster period, so a gap between two periods (e.g. leave) is not "in service".
service as (
    select specialist_id, start_on,
           least(coalesce(end_on, $cutoff::date), $cutoff::date) as end_on, district_ids
    from specialists
    where start_on <= $cutoff::date
),
spans as (
    select a.specialist_id, p.district_id, a.start_on,
           least(coalesce(a.end_on, $cutoff::date),
                 coalesce(p.stopped_ips_on, $cutoff::date),
                 coalesce(p.left_on, $cutoff::date), $cutoff::date) as end_on
    from assignments a join participants p using (study_code)
),
days as (
    select distinct s.specialist_id, unnest(generate_series(s.start_on, s.end_on, interval 1 day))::date as day
    from service s
),
specialist_districts as (
    select distinct specialist_id, unnest(district_ids) as district_id from service
    union
    select distinct specialist_id, district_id from spans
),
grid as (
    select d.specialist_id, sd.district_id, d.day
    from days d join specialist_districts sd using (specialist_id)
),
final as (
    select g.specialist_id, g.district_id, g.day,
           count(sp.specialist_id) as active_n
    from grid g
    left join spans sp
      on sp.specialist_id = g.specialist_id and sp.district_id = g.district_id
     and g.day between sp.start_on and sp.end_on
    group by all
)
select * from final
