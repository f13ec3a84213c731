"""The flow language: YAML files -> validated, frozen flows. Pure: no web, store, telephony or clock."""
