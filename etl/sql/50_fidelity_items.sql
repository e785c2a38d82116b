-- Grain: one row per fidelity review per scale item (25 per complete review).
with
fidelity as (select * from raw.fidelity),
final as (
    select reviewed_on, item_key, section_key, item_number, score
    from fidelity
)
select * from final
