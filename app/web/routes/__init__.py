"""One router per area of the API, each included by `app.main.create_app`."""
