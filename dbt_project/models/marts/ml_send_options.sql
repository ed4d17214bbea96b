-- Tomorrow's send options, for the engagement model: built by the run landing day D for
-- ds = D + 1, from data up to the end of D. One row per eligible (user, channel) x the
-- user's candidate pins (ml_scoring_candidates), with the engagement features of that pin
-- featured on that channel, as of the end of ds - 1, computed by the macros that compute
-- them for the training examples (macros/features.sql). The send's local hour and day of
-- week are not here: the scorer sets them per candidate send hour (the examples compute
-- them from the send time).
-- Same days and retention as the candidates (macros/build_window.sql).
{%- set first_day = scoring_first_day() %}
{%- set last_day = scoring_last_day() %}
{{ config(post_hook="{{ scoring_retention_hook() }}") }}
with

candidates as (
    select * from {{ ref('ml_scoring_candidates') }}
    where ds between {{ first_day }} and {{ last_day }}
),

-- each candidate on every channel its user is eligible for
options as (
    {%- for channel in domain_var('channels') %}
    select ds, user_id, '{{ channel }}' as channel, pin_id
    from candidates
    where is_{{ channel }}_eligible
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

send_options as (
    select
        options.ds,
        options.user_id,
        options.channel,
        options.pin_id,

        -- the user, the user on this channel, the pin and the user's affinity to its topic
        {{ engagement_feature_columns(channel='options.channel') }}
    from options
    {{ engagement_feature_joins('options', first_day, last_day) }}
)

select * from send_options
