"""The call engine: `step(flow, state, event)`. Pure: no web, store, telephony or clock."""
