{#- Day of week, 0 = Sunday .. 6 = Saturday, on every target. -#}
{% macro day_of_week(expr) -%}
    {{ return(adapter.dispatch('day_of_week', 'notiflow')(expr)) }}
{%- endmacro %}

{% macro default__day_of_week(expr) -%}
    extract(dow from {{ expr }})
{%- endmacro %}

{% macro bigquery__day_of_week(expr) -%}
    (extract(dayofweek from {{ expr }}) - 1)
{%- endmacro %}

{#- A smoothed rate: (events + prior * strength) / (trials + strength). -#}
{% macro smoothed_rate(events, trials) -%}
    (
        (coalesce({{ events }}, 0) + {{ var('open_rate_prior') }} * {{ var('open_rate_prior_strength') }})
        / (coalesce({{ trials }}, 0) + {{ var('open_rate_prior_strength') }})
    )
{%- endmacro %}
