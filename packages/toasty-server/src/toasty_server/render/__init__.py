"""Desktop rendering: a platform-neutral ToastSpec, backends that show it, and the dispatcher."""
