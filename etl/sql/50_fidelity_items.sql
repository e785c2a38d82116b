-- Grain: one row per fidelity review per scale item (25 per complete review).
with
fidelity as (select * from raw.fidelity),
final as (
    select reviewed_on, item_key, section_key, item_number, score,
           -- one remark per review, whichever of its rows carries it
           max(nullif(trim(comment), '')) over (partition by reviewed_on) as review_comment
    from fidelity
)
select * from final
