"""The web dashboard: server-rendered pages, a signed session cookie, small static JS and CSS."""
