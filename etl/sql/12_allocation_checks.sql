-- Grain: one row per data-quality warning on the randomisation log's löpnummer (allocation number).
-- Duplicates, gaps in the sequence and numbers that run against the randomisation dates. Warnings,
-- not rejections: the log is still ordered (date, löpnummer, row order) and loaded.
with
randomisations as (select * from raw.randomisations),
numbered as (select * from randomisations where allocation_number is not null),

duplicates as (
    select 'duplicate' as problem, allocation_number,
           string_agg(study_code, ', ' order by source_row) as study_codes,
           'löpnummer ' || allocation_number || ' finns på ' || count(*) || ' rader ('
               || string_agg('rad ' || source_row, ', ' order by source_row) || ')' as message_sv
    from numbered group by allocation_number having count(*) > 1
),
bounds as (select min(allocation_number) as lo, max(allocation_number) as hi from numbered),
gaps as (
    select 'gap' as problem, g.n::integer as allocation_number, null::varchar as study_codes,
           'löpnummer ' || g.n || ' saknas (mellan ' || b.lo || ' och ' || b.hi || ')' as message_sv
    from bounds b, (select unnest(generate_series(lo, hi)) as n from bounds where lo is not null) g
    where g.n not in (select allocation_number from numbered)
),
sequence as (
    select study_code, allocation_number, randomised_on,
           lag(allocation_number) over (order by allocation_number, source_row) as previous_number,
           lag(study_code) over (order by allocation_number, source_row) as previous_code,
           lag(randomised_on) over (order by allocation_number, source_row) as previous_on
    from numbered
),
out_of_order as (
    select 'date_order' as problem, allocation_number, previous_code || ', ' || study_code as study_codes,
           'löpnummer ' || allocation_number || ' är randomiserad ' || randomised_on || ', före löpnummer '
               || previous_number || ' (' || previous_on || ')' as message_sv
    from sequence where randomised_on < previous_on
),
partial as (
    select 'missing' as problem, null::integer as allocation_number,
           string_agg(study_code, ', ' order by source_row) as study_codes,
           count(*) || ' rader saknar löpnummer fast andra rader har ett' as message_sv
    from randomisations
    where allocation_number is null and exists (select 1 from numbered)
    having count(*) > 0
),
final as (
    select * from duplicates
    union all select * from gaps
    union all select * from out_of_order
    union all select * from partial
)
select * from final order by allocation_number nulls last, problem
