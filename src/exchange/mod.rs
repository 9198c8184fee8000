//! One exchange with the service, end to end: obtaining an answer's result images
//! ([`fetch`]) for the CLI, the TUI worker and the sweep runner alike.

pub mod fetch;
