"""One module per page, each exposing ``render()``; mounted by sizing.ui.navigation."""
