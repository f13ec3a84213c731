"""Phone menus as plain YAML files, served to Twilio as TwiML."""
