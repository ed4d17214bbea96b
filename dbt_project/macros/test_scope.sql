{#-
  Which days a data test checks. A daily run (`--vars '{ds: D}'`) rebuilds at most the
  days [D - 1, D + 1] of a day-partitioned model (macros/build_window.sql), so its tests
  check those days, not the whole history again; a full build tests every day.

  Tests opt in with `where: "__rebuilt_days__"` (dbt_project.yml sets it for the whole
  project): a `where` config can call no macro, so this override of dbt's
  get_where_subquery turns the placeholder into a predicate on `ds`, for models that
  document a `ds` column, and into no filter otherwise.
-#}

{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if '__rebuilt_days__' in where -%}
        {%- set where = where | replace('__rebuilt_days__', rebuilt_days_predicate()) -%}
    {%- endif -%}
    {%- if where and where != 'true' -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{#- SQL predicate on the tested model's rows: the days this run rebuilt. -#}
{% macro rebuilt_days_predicate() -%}
    {%- set ds = landed_day() -%}
    {%- if not execute -%}
        {{- return('true') -}}
    {%- endif -%}
    {%- set tested = graph.nodes.get(model.attached_node) if model.attached_node else none -%}
    {%- if ds is none or tested is none or 'ds' not in tested.columns -%}
        {{- return('true') -}}
    {%- endif -%}
    {{- return(in_build_window('ds', lookback_days=1, lead_days=1)) -}}
{%- endmacro %}
