-- Candidates for tomorrow's notifications: built by the run landing day D for ds = D + 1,
-- from data up to the end of D. Eligible users (outside the notification holdout,
-- reachable on at least one channel) x
-- their top-N pins: the most popular pins of the user's top topics by 28-day affinity
-- (users without affinity get the most popular pins overall), minus pins recently sent
-- to the user or saved by them. Ranked by (affinity + prior) x ln(2 + popularity).
-- Each candidate carries the ranking model's features, computed by the macros that
-- compute them for its training examples (macros/features.sql), as of the end of
-- ds - 1; the list context is that of an email digest (domain vars digest_channel,
-- digest_list_size): the ranking model ranks pins for a digest.
-- Candidates feed scoring only: the table keeps the days from the newest landed day + 1
-- back var candidate_retention_days (older days are neither built nor kept).
{%- set exclusion_days = var('candidate_exclusion_days') %}
{%- set first_day = scoring_first_day() %}
{%- set last_day = scoring_last_day() %}
{{ config(post_hook="{{ scoring_retention_hook() }}") }}
with

user_features as (
    select * from {{ ref('user_features_daily') }}
    where ds between {{ first_day }} and {{ last_day }}
),

eligible_users as (
    select
        user_id,
        ds,
        is_push_opted_in and not is_push_unsubscribed as is_push_eligible,
        is_email_opted_in and not is_email_unsubscribed as is_email_eligible,
        not is_in_app_unsubscribed as is_in_app_eligible
    from user_features
    where
        not is_in_notification_holdout
        and (
            (is_push_opted_in and not is_push_unsubscribed)
            or (is_email_opted_in and not is_email_unsubscribed)
            or not is_in_app_unsubscribed
        )
),

user_topics as (
    select user_id, topic, ds, affinity_28d
    from {{ ref('int_user_topic_affinity') }}
    where ds between {{ first_day }} and {{ last_day }} and affinity_28d > 0
    qualify row_number() over (
        partition by user_id, ds order by affinity_28d desc, topic
    ) <= {{ var('candidate_topics_per_user') }}
),

pins as (
    select pin_id, ds, topic, popularity_28d
    from {{ ref('pin_features_daily') }}
    where ds between {{ first_day }} and {{ last_day }}
),

top_pins_per_topic as (
    select *
    from pins
    qualify row_number() over (
        partition by topic, ds order by popularity_28d desc, pin_id
    ) <= {{ var('candidate_pins_per_topic') }}
),

top_pins_overall as (
    select *
    from pins
    qualify row_number() over (
        partition by ds order by popularity_28d desc, pin_id
    ) <= {{ var('candidate_pins_per_topic') }}
),

affinity_candidates as (
    select
        user_topics.user_id,
        user_topics.ds,
        top_pins_per_topic.pin_id,
        top_pins_per_topic.topic as pin_topic,
        user_topics.affinity_28d,
        top_pins_per_topic.popularity_28d
    from user_topics
    inner join top_pins_per_topic
        on user_topics.topic = top_pins_per_topic.topic and user_topics.ds = top_pins_per_topic.ds
),

cold_start_candidates as (
    select
        eligible_users.user_id,
        eligible_users.ds,
        top_pins_overall.pin_id,
        top_pins_overall.topic as pin_topic,
        cast(0 as {{ double_type() }}) as affinity_28d,
        top_pins_overall.popularity_28d
    from eligible_users
    inner join top_pins_overall on eligible_users.ds = top_pins_overall.ds
    where not exists (
        select 1 from user_topics
        where user_topics.user_id = eligible_users.user_id and user_topics.ds = eligible_users.ds
    )
),

-- pins sent to or saved by each user lately, one row per (user, pin, day)
recent_interactions as (
    select user_id, pin_id, ds as interaction_ds
    from {{ ref('int_user_pin_daily') }}
    where ds between {{ add_days(first_day, -exclusion_days) }} and {{ last_day }}
),

candidates as (
    select * from affinity_candidates
    union all
    select * from cold_start_candidates
),

scored as (
    select
        candidates.ds,
        candidates.user_id,
        candidates.pin_id,
        candidates.pin_topic,
        candidates.affinity_28d as user_topic_affinity_28d,
        candidates.popularity_28d as pin_popularity_28d,
        cast(
            (candidates.affinity_28d + {{ var('candidate_affinity_prior') }})
            * ln(2 + candidates.popularity_28d)
            as {{ double_type() }}
        ) as candidate_score,
        eligible_users.is_push_eligible,
        eligible_users.is_email_eligible,
        eligible_users.is_in_app_eligible
    from candidates
    inner join eligible_users
        on candidates.user_id = eligible_users.user_id and candidates.ds = eligible_users.ds
    -- equality on (user, pin) first, then the window: a hash join, not a range join
    where not exists (
        select 1 from recent_interactions
        where
            recent_interactions.user_id = candidates.user_id
            and recent_interactions.pin_id = candidates.pin_id
            and recent_interactions.interaction_ds < candidates.ds
            and recent_interactions.interaction_ds >= {{ add_days('candidates.ds', -exclusion_days) }}
    )
),

ranked as (
    select
        *,
        row_number() over (
            partition by user_id, ds order by candidate_score desc, pin_id
        ) as candidate_rank
    from scored
),

top_candidates as (
    select * from ranked
    where candidate_rank <= {{ var('candidates_per_user') }}
),

-- the ranking features of each candidate, as its training examples have them
with_features as (
    select
        top_candidates.ds,
        top_candidates.user_id,
        top_candidates.pin_id,
        top_candidates.candidate_score,
        top_candidates.is_push_eligible,
        top_candidates.is_email_eligible,
        top_candidates.is_in_app_eligible,
        top_candidates.candidate_rank,

        -- the list the ranking model ranks the candidates for: an email digest
        '{{ domain_var('digest_channel') }}' as channel,
        cast({{ domain_var('digest_list_size') }} as bigint) as list_size,

        {{ ranking_feature_columns() }}
    from top_candidates
    {{ ranking_feature_joins('top_candidates', first_day, last_day) }}
)

select * from with_features
