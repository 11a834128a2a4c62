package webui

// adminRoutes registers the administration and operations pages.
func (u *UI) adminRoutes() {}
