-- Grain: one row per specialist per district per roster period (a shared specialist has a row for
-- each district they serve). Staff, not participants: no study codes here.
with
specialists as (select * from raw.specialists),
final as (
    select specialist_id, unnest(district_ids) as district_id, employment_pct,
           len(district_ids) as n_districts, start_on, end_on,
           (start_on <= $cutoff::date and (end_on is null or end_on >= $cutoff::date)) as is_active_at_cutoff
    from specialists
)
select * from final
