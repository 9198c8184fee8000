//! One exchange with the service, end to end, for the CLI, the TUI worker and the sweep
//! runner alike: result images obtained by one fetcher ([`fetch`]) and collected for the
//! history ([`results`]), async requests submitted, polled and resumed ([`tasks`]).

pub mod fetch;
pub mod results;
pub mod tasks;
