-- Grain: one row per district per calendar month, from the district's start to the cut-off month.
-- Randomised that month (total and per arm) and cumulative, for accrual curves against target.
with
districts as (select district_id, start_on, target from meta.districts),
participants as (select * from mart.participants),

months as (
    select d.district_id, d.target,
           unnest(generate_series(date_trunc('month', d.start_on)::date,
                                  date_trunc('month', $cutoff::date)::date,
                                  interval 1 month))::date as month
    from districts d
),
counts as (
    select district_id, randomised_month as month, count(*) as randomised_n,
           count(*) filter (where arm = 'ips') as ips_n,
           count(*) filter (where arm = 'control') as control_n
    from participants group by all
),
final as (
    select m.district_id, m.month, m.target,
           coalesce(c.randomised_n, 0) as randomised_n,
           coalesce(c.ips_n, 0) as ips_n,
           coalesce(c.control_n, 0) as control_n,
           sum(coalesce(c.randomised_n, 0)) over (partition by m.district_id order by m.month) as cumulative_n
    from months m left join counts c using (district_id, month)
)
select * from final
