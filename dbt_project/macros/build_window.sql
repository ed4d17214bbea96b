{#-
  Which days a model (re)builds. Every incremental model replaces whole `ds` partitions,
  so a run is idempotent and a day-by-day build ends where a full build does.

  - `dbt build --vars '{ds: D}'`: the daily run that lands day D; a model rebuilds the days
    [D - lookback_days, D + lead_days] its inputs changed for (e.g. yesterday's sends, whose
    24 h labels complete today; tomorrow's as-of feature snapshot).
  - no `ds` var: a full build, every day the raw layer holds, widened the same way, so that
    it builds exactly the days the daily runs over the same landed days build.
-#}

{% macro landed_day() -%}
    {%- set ds = var('ds', none) -%}
    {%- if ds is none or ds == '' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', ds | string) -%}
        {{ exceptions.raise_compiler_error("var 'ds' must be a date YYYY-MM-DD, got '" ~ ds ~ "'") }}
    {%- endif -%}
    {{ return(ds | string) }}
{%- endmacro %}

{#- SQL date expression of the first (`min`) or newest (`max`) day the raw layer holds
    (read from the source: the staging view would deduplicate every day to answer). -#}
{% macro landed_day_bound(bound) -%}
    (select cast({{ bound }}(ds) as date) from {{ source('raw', 'notifications') }})
{%- endmacro %}

{#- SQL date expression of the first day to build. -#}
{% macro build_start(lookback_days=0) -%}
    {%- set ds = landed_day() -%}
    {%- if ds is none -%}
        {{ add_days(landed_day_bound('min'), -lookback_days) }}
    {%- else -%}
        {{ add_days("cast('" ~ ds ~ "' as date)", -lookback_days) }}
    {%- endif -%}
{%- endmacro %}

{#- SQL date expression of the last day to build. -#}
{% macro build_end(lead_days=0) -%}
    {%- set ds = landed_day() -%}
    {%- if ds is none -%}
        {{ add_days(landed_day_bound('max'), lead_days) }}
    {%- else -%}
        {{ add_days("cast('" ~ ds ~ "' as date)", lead_days) }}
    {%- endif -%}
{%- endmacro %}

{#- Predicate: `column` is a day this run builds. -#}
{% macro in_build_window(column, lookback_days=0, lead_days=0) -%}
    {{ column }} between {{ build_start(lookback_days) }} and {{ build_end(lead_days) }}
{%- endmacro %}

{#- Tomorrow's scoring marts (ml_scoring_candidates, ml_send_options) are built by the
    run landing day D for ds = D + 1, and only for scoring: they keep the days from the
    newest landed day + 1 back var candidate_retention_days. These bound the days such a
    mart builds (older days are neither built nor kept); scoring_retention_hook is its
    post_hook, which drops the days that fell out of retention. -#}
{% macro scoring_retained_from() -%}
    {{ add_days(landed_day_bound('max'), 2 - var('candidate_retention_days')) }}
{%- endmacro %}

{% macro scoring_first_day() -%}
    greatest({{ build_start(lookback_days=-1) }}, {{ scoring_retained_from() }})
{%- endmacro %}

{% macro scoring_last_day() -%}
    {{ build_end(lead_days=1) }}
{%- endmacro %}

{% macro scoring_retention_hook() -%}
    delete from {{ this }} where ds < {{ scoring_retained_from() }}
{%- endmacro %}

{#- Join predicate: daily row `day` falls in the `days` days that end the day before
    `as_of_day` (the point-in-time cut-off of an as-of snapshot). -#}
{% macro in_days_before(day, as_of_day, days) -%}
    {{ day }} between {{ add_days(as_of_day, -days) }} and {{ add_days(as_of_day, -1) }}
{%- endmacro %}

{#-
  A daily run's snapshots look feature_window_days (macros/domain_var.sql) days back, into
  intermediate days earlier runs built. On a warehouse whose intermediate layer lacks a landed day of
  that window (a fresh warehouse with history, or a skipped day), a daily run would
  silently build features without that history; refuse it instead (on-run-start),
  naming the missing days.
-#}
{% macro assert_history_built() -%}
    {%- set ds = landed_day() -%}
    {%- if not execute or ds is none or flags.WHICH not in ('run', 'build') -%}
        {{- return('') -}}
    {%- endif -%}
    {%- set node = graph.nodes['model.notiflow.int_user_activity_daily'] -%}
    {%- set activity = adapter.get_relation(node.database, node.schema, node.alias) -%}
    {%- set window_days = domain_var('feature_window_days') -%}
    {%- set window_start = add_days("cast('" ~ ds ~ "' as date)", -window_days) -%}
    {%- set window_end = add_days("cast('" ~ ds ~ "' as date)", -1) -%}
    {%- set missing_days -%}
        select distinct cast(ds as date) as ds
        from {{ source('raw', 'notifications') }}
        where ds between {{ window_start }} and {{ window_end }}
        {%- if activity is not none %}
        except distinct
        select distinct ds from {{ activity }}
        where ds between {{ window_start }} and {{ window_end }}
        {%- endif %}
        order by 1
    {%- endset -%}
    {%- set missing = run_query(missing_days).columns[0].values() | map('string') | list -%}
    {%- if missing -%}
        {{ exceptions.raise_compiler_error(
            "daily run for ds=" ~ ds ~ ": " ~ node.schema ~ "." ~ node.alias ~ " lacks landed day(s) "
            ~ missing | join(', ') ~ " of the " ~ window_days ~ " days before it, so its features"
            ~ " would miss that history; build them first with a full build (`dbt build`"
            ~ " without --vars ds) or the daily runs of those days"
        ) }}
    {%- endif -%}
    {{- return('') -}}
{%- endmacro %}
