{#- Cross-database helpers: every model compiles for DuckDB (local) and BigQuery (production). -#}

{#- Day of week, 0 = Sunday .. 6 = Saturday. -#}
{% macro day_of_week(expr) -%}
    {{ return(adapter.dispatch('day_of_week', 'notiflow')(expr)) }}
{%- endmacro %}

{% macro default__day_of_week(expr) -%}
    extract(dow from {{ expr }})
{%- endmacro %}

{% macro bigquery__day_of_week(expr) -%}
    (extract(dayofweek from {{ expr }}) - 1)
{%- endmacro %}

{#- A date plus n days, still a date (dbt.dateadd returns a timestamp on some targets). -#}
{% macro add_days(date_expr, days) -%}
    {{ return(adapter.dispatch('add_days', 'notiflow')(date_expr, days)) }}
{%- endmacro %}

{% macro default__add_days(date_expr, days) -%}
    cast({{ date_expr }} + interval ({{ days }}) day as date)
{%- endmacro %}

{% macro bigquery__add_days(date_expr, days) -%}
    date_add({{ date_expr }}, interval {{ days }} day)
{%- endmacro %}

{#- Whole days from start_date to end_date (dates). -#}
{% macro days_between(start_date, end_date) -%}
    {{ return(adapter.dispatch('days_between', 'notiflow')(start_date, end_date)) }}
{%- endmacro %}

{% macro default__days_between(start_date, end_date) -%}
    date_diff('day', cast({{ start_date }} as date), cast({{ end_date }} as date))
{%- endmacro %}

{% macro bigquery__days_between(start_date, end_date) -%}
    date_diff(cast({{ end_date }} as date), cast({{ start_date }} as date), day)
{%- endmacro %}

{#- One row per day from start_date to end_date inclusive, in a column `ds`. -#}
{% macro date_spine(start_date, end_date) -%}
    {{ return(adapter.dispatch('date_spine', 'notiflow')(start_date, end_date)) }}
{%- endmacro %}

{% macro default__date_spine(start_date, end_date) -%}
    select cast(spine.ds as date) as ds
    from generate_series(
        cast({{ start_date }} as timestamp), cast({{ end_date }} as timestamp), interval 1 day
    ) as spine(ds)
{%- endmacro %}

{% macro bigquery__date_spine(start_date, end_date) -%}
    select ds
    from unnest(generate_date_array(cast({{ start_date }} as date), cast({{ end_date }} as date))) as ds
{%- endmacro %}

{#- A timestamp shifted from UTC to the user's local time (offset in whole hours). -#}
{% macro to_local_time(utc_timestamp, tz_offset_hours) -%}
    {{ dbt.dateadd('hour', tz_offset_hours, utc_timestamp) }}
{%- endmacro %}

{#- A smoothed rate: (events + prior * strength) / (trials + strength), in [0, 1] when events <= trials. -#}
{% macro smoothed_rate(events, trials, prior=var('open_rate_prior'), strength=var('open_rate_prior_strength')) -%}
    (
        (coalesce({{ events }}, 0) + {{ prior }} * {{ strength }})
        / (coalesce({{ trials }}, 0) + {{ strength }})
    )
{%- endmacro %}

{#- Weight of a day `age_days` days before the cut-off under exponential decay. -#}
{% macro decay_weight(age_days, half_life_days=var('affinity_half_life_days')) -%}
    pow(0.5, {{ age_days }} / {{ half_life_days }})
{%- endmacro %}

{#- 64-bit floating point type. -#}
{% macro double_type() -%}
    {{ return(adapter.dispatch('double_type', 'notiflow')()) }}
{%- endmacro %}

{% macro default__double_type() -%} double {%- endmacro %}

{% macro bigquery__double_type() -%} float64 {%- endmacro %}
