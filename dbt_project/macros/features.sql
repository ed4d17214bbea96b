{#-
  The model features, each written once. A training mart and its scoring mart compute a
  row's features with the same macros, so that a model sees at scoring time exactly the
  features it was trained on (no train/serve skew):

  - ranking features of a (user, pin, ds): ml_ranking_examples (digest items) and
    ml_scoring_candidates (tomorrow's candidates);
  - engagement features of a (user, channel, featured pin, ds): ml_engagement_examples
    (sends) and ml_send_options (tomorrow's options). The send's local hour and day of
    week are not among them: the examples compute them from the send time, the scorer
    sets them per candidate send hour.

  Every feature is as of the end of ds - 1 (point in time): it reads the snapshots of day
  ds (user_features_daily, pin_features_daily, int_user_topic_affinity) and the user's
  pins before ds.

  Macros, not an intermediate model: the rows that need features (digest items, sends,
  candidates, send options) exist only in the marts that choose them, and the candidates
  are chosen from the same snapshots; a feature table keyed by (user, pin, ds) would have
  to hold every pair any mart might ask for, or depend on its own consumers.

  Usage, in a model whose CTE `spine` has one row per entity (user_id, ds and the pin):

      select spine.<keys>, {{ ranking_feature_columns() }}
      from spine
      {{ ranking_feature_joins('spine', first_day, last_day) }}

  first_day and last_day (SQL date expressions) bound the spine's days: the snapshots
  are read for those days only (partition pruning on BigQuery). The joins keep only the
  spine's rows whose user has a snapshot that day (an inner join, as training always
  did); pins and topics without one get the documented defaults.
-#}

{#- Ranking model features, in ml_ranking_examples' column order. -#}
{% macro ranking_feature_names() -%}
    {{- return([
        'platform', 'country', 'user_events_7d', 'user_events_28d', 'user_open_rate_28d',
        'pin_topic', 'user_topic_affinity_7d', 'user_topic_affinity_28d',
        'user_topic_engagements_7d', 'user_topic_engagements_28d',
        'pin_age_days', 'pin_impressions_7d', 'pin_saves_7d', 'pin_click_rate_7d',
        'pin_click_rate_28d', 'pin_save_rate_28d', 'pin_popularity_28d',
        'creator_pin_count', 'creator_saves_28d', 'has_seen_pin_before',
    ]) -}}
{%- endmacro %}

{#- Engagement model features of a (user, channel, featured pin, ds), in
    ml_engagement_examples' column order (the send's context columns come before). -#}
{% macro engagement_feature_names() -%}
    {{- return([
        'platform', 'country', 'age_bucket', 'user_tenure_days',
        'user_events_1d', 'user_events_7d', 'user_events_28d', 'user_active_days_28d',
        'days_since_last_active', 'user_active_hour_cos_28d', 'user_active_hour_sin_28d',
        'user_sends_1d', 'user_sends_7d', 'user_opens_7d',
        'user_sends_28d', 'user_opens_28d', 'user_open_rate_28d', 'days_since_last_open',
        'channel_sends_1d', 'channel_sends_7d', 'channel_open_rate_28d',
        'pin_topic', 'user_topic_affinity_7d', 'user_topic_affinity_28d', 'topic_open_rate_28d',
        'pin_age_days', 'pin_impressions_7d', 'pin_saves_7d', 'pin_click_rate_7d',
        'pin_popularity_28d', 'creator_pin_count', 'creator_saves_28d',
    ]) -}}
{%- endmacro %}

{#- The select list of the ranking features (no trailing comma). -#}
{% macro ranking_feature_columns() -%}
    {{ feature_columns(ranking_feature_names()) }}
{%- endmacro %}

{#- The joins the ranking features read, after `from <spine>`; the spine has user_id,
    pin_id and ds. -#}
{% macro ranking_feature_joins(spine, first_day, last_day) -%}
    {{ feature_joins(spine, first_day, last_day, pin_id='pin_id', seen_pins=true) }}
{%- endmacro %}

{#- The select list of the engagement features (no trailing comma); `channel` is the
    spine's channel column. -#}
{% macro engagement_feature_columns(channel) -%}
    {{ feature_columns(engagement_feature_names(), channel=channel) }}
{%- endmacro %}

{#- The joins the engagement features read, after `from <spine>`; the spine has user_id,
    ds and the featured pin in column `pin_id`. -#}
{% macro engagement_feature_joins(spine, first_day, last_day, pin_id='pin_id') -%}
    {{ feature_joins(spine, first_day, last_day, pin_id=pin_id) }}
{%- endmacro %}

{#- Every feature's expression, by name: its one home. They read the aliases of
    feature_joins (feature_users, feature_pins, feature_pin_snapshots, feature_affinities,
    feature_seen_pins); `channel` is the spine's channel column (channel features only).
    A pin or topic without a snapshot gets 0 counts, 0 affinity and the prior rates. -#}
{% macro feature_expressions(channel=none) -%}
    {%- set click_prior = smoothed_rate('0', '0', var('click_rate_prior'), var('click_rate_prior_strength')) -%}
    {%- set save_prior = smoothed_rate('0', '0', var('save_rate_prior'), var('save_rate_prior_strength')) -%}
    {%- set expressions = {
        'platform': 'feature_users.platform',
        'country': 'feature_users.country',
        'age_bucket': 'feature_users.age_bucket',
        'user_tenure_days': 'feature_users.tenure_days',
        'user_events_1d': 'feature_users.organic_events_1d',
        'user_events_7d': 'feature_users.organic_events_7d',
        'user_events_28d': 'feature_users.organic_events_28d',
        'user_active_days_28d': 'feature_users.active_days_28d',
        'days_since_last_active': 'feature_users.days_since_last_active',
        'user_active_hour_cos_28d': 'feature_users.active_hour_cos_28d',
        'user_active_hour_sin_28d': 'feature_users.active_hour_sin_28d',
        'user_sends_1d': 'feature_users.notification_sends_1d',
        'user_sends_7d': 'feature_users.notification_sends_7d',
        'user_opens_7d': 'feature_users.notification_opens_7d',
        'user_sends_28d': 'feature_users.notification_sends_28d',
        'user_opens_28d': 'feature_users.notification_opens_28d',
        'user_open_rate_28d': 'feature_users.open_rate_28d',
        'days_since_last_open':
            'cast(feature_users.days_since_last_open as ' ~ double_type() ~ ')',
        'channel_sends_1d': channel_feature(channel, 'sends_1d'),
        'channel_sends_7d': channel_feature(channel, 'sends_7d'),
        'channel_open_rate_28d': channel_feature(channel, 'open_rate_28d'),
        'pin_topic': "coalesce(feature_pins.topic, 'unknown')",
        'user_topic_affinity_7d': 'coalesce(feature_affinities.affinity_7d, 0)',
        'user_topic_affinity_28d': 'coalesce(feature_affinities.affinity_28d, 0)',
        'user_topic_engagements_7d': 'coalesce(feature_affinities.engagements_7d, 0)',
        'user_topic_engagements_28d': 'coalesce(feature_affinities.engagements_28d, 0)',
        'topic_open_rate_28d': 'cast('
            ~ smoothed_rate('feature_affinities.notification_opens_28d',
                'feature_affinities.notification_sends_28d')
            ~ ' as ' ~ double_type() ~ ')',
        'pin_age_days': 'coalesce(feature_pin_snapshots.pin_age_days, 0)',
        'pin_impressions_7d': 'coalesce(feature_pin_snapshots.impressions_7d, 0)',
        'pin_saves_7d': 'coalesce(feature_pin_snapshots.saves_7d, 0)',
        'pin_click_rate_7d': 'coalesce(feature_pin_snapshots.click_rate_7d, ' ~ click_prior ~ ')',
        'pin_click_rate_28d': 'coalesce(feature_pin_snapshots.click_rate_28d, ' ~ click_prior ~ ')',
        'pin_save_rate_28d': 'coalesce(feature_pin_snapshots.save_rate_28d, ' ~ save_prior ~ ')',
        'pin_popularity_28d': 'coalesce(feature_pin_snapshots.popularity_28d, 0)',
        'creator_pin_count': 'coalesce(feature_pin_snapshots.creator_pin_count, 0)',
        'creator_saves_28d': 'coalesce(feature_pin_snapshots.creator_saves_28d, 0)',
        'has_seen_pin_before': 'feature_seen_pins.user_id is not null',
    } -%}
    {{- return(expressions) -}}
{%- endmacro %}

{#- A per-channel column of the user snapshot (`<channel>_<column>`), for the row's channel. -#}
{% macro channel_feature(channel, column) -%}
    case {{ channel }}
        {%- for each_channel in domain_var('channels') %}
        when '{{ each_channel }}' then feature_users.{{ each_channel }}_{{ column }}
        {%- endfor %}
    end
{%- endmacro %}

{#- `<expression> as <name>` for each feature of `names`, comma-separated. -#}
{% macro feature_columns(names, channel=none) -%}
    {%- set expressions = feature_expressions(channel) -%}
    {%- for name in names %}
        {%- if name not in expressions -%}
            {{ exceptions.raise_compiler_error("no feature named '" ~ name ~ "' in macros/features.sql") }}
        {%- endif %}
        {{ expressions[name] }} as {{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- The joins every feature reads, after `from <spine>`: the user's snapshot of day ds
    (inner: a row without one has no features), the pin's catalog row (its topic), the
    pin's snapshot, the user's affinity to the pin's topic and, with seen_pins, whether
    the pin was sent to the user or saved by them in the feature window before ds. -#}
{% macro feature_joins(spine, first_day, last_day, pin_id='pin_id', seen_pins=false) -%}
    {%- set window_days = domain_var('feature_window_days') %}
    inner join (
        select * from {{ ref('user_features_daily') }}
        where ds between {{ first_day }} and {{ last_day }}
    ) as feature_users
        on {{ spine }}.user_id = feature_users.user_id and {{ spine }}.ds = feature_users.ds
    left join {{ ref('stg_raw__pins') }} as feature_pins
        on {{ spine }}.{{ pin_id }} = feature_pins.pin_id
    left join (
        select * from {{ ref('pin_features_daily') }}
        where ds between {{ first_day }} and {{ last_day }}
    ) as feature_pin_snapshots
        on {{ spine }}.{{ pin_id }} = feature_pin_snapshots.pin_id
        and {{ spine }}.ds = feature_pin_snapshots.ds
    left join (
        select * from {{ ref('int_user_topic_affinity') }}
        where ds between {{ first_day }} and {{ last_day }}
    ) as feature_affinities
        on {{ spine }}.user_id = feature_affinities.user_id
        and feature_pins.topic = feature_affinities.topic
        and {{ spine }}.ds = feature_affinities.ds
    {%- if seen_pins %}
    -- the spine's (user, pin, ds) whose pin the user was sent or saved in the feature window
    -- before ds; equality on (user, pin) first, then the window: a hash join, not a range join
    left join (
        select distinct seen.user_id, seen.{{ pin_id }} as pin_id, seen.ds
        from {{ spine }} as seen
        inner join {{ ref('int_user_pin_daily') }} as user_pins
            on seen.user_id = user_pins.user_id and seen.{{ pin_id }} = user_pins.pin_id
        where
            user_pins.ds between {{ add_days(first_day, -window_days) }}
            and {{ add_days(last_day, -1) }}
            and {{ in_days_before('user_pins.ds', 'seen.ds', window_days) }}
    ) as feature_seen_pins
        on {{ spine }}.user_id = feature_seen_pins.user_id
        and {{ spine }}.{{ pin_id }} = feature_seen_pins.pin_id
        and {{ spine }}.ds = feature_seen_pins.ds
    {%- endif %}
{%- endmacro %}


{#- The angle of a local hour on the 24-hour circle, at the middle of the hour (hour 0 is
    0.5 / 24 of a turn): the engagement model's preprocessing puts the send hour on the
    same circle (tfx_pipelines/engagement/features.py, hour_angle). -#}
{% macro local_hour_angle(hour_expr) -%}
    (2 * 3.141592653589793 * ({{ hour_expr }} + 0.5) / 24)
{%- endmacro %}
