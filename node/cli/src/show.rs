//! Reading JSON-RPC answers and printing them, as lines or as JSON (`--json`): what every
//! `query` command does with the node's answer.
use anyhow::{anyhow, Context};
use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::params::ArrayParams;
use menara_rpc::client;
use serde::de::DeserializeOwned;

/// Calls an RPC method and returns its JSON answer.
pub(crate) async fn request(
    rpc: &str,
    method: &str,
    params: ArrayParams,
) -> anyhow::Result<serde_json::Value> {
    let c = client::connect(rpc).await?;
    c.request(method, params)
        .await
        .map_err(|e| anyhow!("{method}: {e}"))
}

/// Reads an answer as `T`; `what` names it in the error.
pub(crate) fn decode<T: DeserializeOwned>(v: serde_json::Value, what: &str) -> anyhow::Result<T> {
    serde_json::from_value(v).with_context(|| format!("unexpected {what} from the node"))
}

/// Prints an answer as indented JSON.
pub(crate) fn print_json(v: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Prints items with a blank line between them, or `empty` when there are none.
pub(crate) fn print_list<T>(list: &[T], empty: &str, print: impl Fn(&T)) {
    if list.is_empty() {
        println!("{empty}");
    }
    for (i, item) in list.iter().enumerate() {
        if i > 0 {
            println!();
        }
        print(item);
    }
}

/// Prints one answer: as JSON with `json`, else read as `T` and printed by `print`.
pub(crate) fn show<T: DeserializeOwned>(
    v: serde_json::Value,
    json: bool,
    what: &str,
    print: impl FnOnce(&T),
) -> anyhow::Result<()> {
    if json {
        return print_json(&v);
    }
    print(&decode(v, what)?);
    Ok(())
}

/// Prints a list answer: as JSON with `json`, else each item by `print` ([`print_list`]).
pub(crate) fn show_list<T: DeserializeOwned>(
    v: serde_json::Value,
    json: bool,
    what: &str,
    empty: &str,
    print: impl Fn(&T),
) -> anyhow::Result<()> {
    if json {
        return print_json(&v);
    }
    let list: Vec<T> = decode(v, what)?;
    print_list(&list, empty, print);
    Ok(())
}
