-- One row per user and channel the user unsubscribed from, with the first day it happened.
-- Rebuilt whole on every run (one narrow scan of the daily activity), since "unsubscribed
-- as of day D" looks back to the beginning of the logs.
{{ config(materialized='table', partition_by=none, unique_key=none) }}
{%- set channels = domain_var('channels') %}

with

activity as (
    select * from {{ ref('int_user_activity_daily') }}
),

unsubscribes as (
    {%- for channel in channels %}
    select user_id, '{{ channel }}' as channel, min(ds) as first_unsubscribed_date
    from activity
    where {{ channel }}_unsubscribes > 0
    group by user_id
    {{- "\n    union all" if not loop.last }}
    {%- endfor %}
)

select * from unsubscribes
