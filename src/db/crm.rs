//! Tenant-scoped reads and writes for the CRM API: customers, their calls,
//! calls with their turns. Every function takes the [`Tenant`] the request
//! extractor resolved and filters by its business id — there is no variant
//! that takes a bare business id, so no handler can forget the filter.
//! (The webhooks and the call pipeline write these tables via `db::calls`
//! and `db::customers`; this module only serves the API.)

use sqlx::{AssertSqlSafe, Row};

use super::Db;
use super::calls::{CALL_COLUMNS, CallLog, CallTurn, TURN_COLUMNS};
use super::customers::{COLUMNS as CUSTOMER_COLUMNS, Customer};
use crate::domain::Timestamp;
use crate::domain::tenant::Tenant;

/// A window onto a long list.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

/// One page of rows and how many there are in all.
#[derive(Debug, Clone)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// A value bound to a placeholder of a query assembled at run time. Column
/// names in such queries are fixed strings; only values are bound.
enum Arg {
    Int(i64),
    Text(String),
    OptText(Option<String>),
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    args: &[Arg],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for a in args {
        q = match a {
            Arg::Int(i) => q.bind(*i),
            Arg::Text(t) => q.bind(t.clone()),
            Arg::OptText(t) => q.bind(t.clone()),
        };
    }
    q
}

/// `%…%` for LIKE, with the pattern characters in the user's text escaped.
fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Phones are stored in E.164 (`+97250…`) but typed as dialled (`050-…`):
/// for text that looks like a number, search its digits without the trunk 0.
fn phone_search(text: &str) -> String {
    let looks_like_phone = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')' | '.'));
    if !looks_like_phone {
        return text.to_string();
    }
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    digits.trim_start_matches('0').to_string()
}

async fn count(db: &Db, sql: String, args: &[Arg]) -> Result<i64, sqlx::Error> {
    bind_all(sqlx::query(AssertSqlSafe(sql)), args)
        .fetch_one(&db.pool)
        .await?
        .try_get("n")
}

/// The tenant's customers, newest first, optionally matching `search` in the
/// name or the phone number (case-insensitive substring).
pub async fn list_customers(
    db: &Db,
    tenant: &Tenant,
    search: Option<&str>,
    page: Page,
) -> Result<Paged<Customer>, sqlx::Error> {
    let mut filter = String::from("business_id = $1");
    let mut args = vec![Arg::Int(tenant.business_id())];
    if let Some(s) = search.map(str::trim).filter(|s| !s.is_empty()) {
        args.push(Arg::Text(like_pattern(s)));
        args.push(Arg::Text(like_pattern(&phone_search(s))));
        let (n, p) = (args.len() - 1, args.len());
        filter.push_str(&format!(
            " AND (LOWER(COALESCE(name, '')) LIKE ${n} ESCAPE '\\' OR phone LIKE ${p} ESCAPE '\\')"
        ));
    }
    let total = count(
        db,
        format!("SELECT COUNT(*) AS n FROM customer WHERE {filter}"),
        &args,
    )
    .await?;
    let n = args.len();
    let sql = format!(
        "SELECT {CUSTOMER_COLUMNS} FROM customer WHERE {filter} \
         ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    args.push(Arg::Int(page.limit));
    args.push(Arg::Int(page.offset));
    let items = bind_all(sqlx::query(AssertSqlSafe(sql)), &args)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(Customer::from_row)
        .collect::<Result<_, _>>()?;
    Ok(Paged { items, total })
}

/// One of the tenant's customers; another tenant's is `None`, like a missing one.
pub async fn get_customer(
    db: &Db,
    tenant: &Tenant,
    id: i64,
) -> Result<Option<Customer>, sqlx::Error> {
    let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customer WHERE id = $1 AND business_id = $2");
    sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .bind(tenant.business_id())
        .fetch_optional(&db.pool)
        .await?
        .map(|r| Customer::from_row(&r))
        .transpose()
}

/// What the CRM may change on a customer; `None` keeps a field,
/// `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default)]
pub struct CustomerChanges {
    pub name: Option<Option<String>>,
    pub notes: Option<Option<String>>,
    pub status: Option<String>,
}

/// Applies `changes` to one of the tenant's customers; `None` if it is not theirs.
pub async fn update_customer(
    db: &Db,
    tenant: &Tenant,
    id: i64,
    changes: &CustomerChanges,
) -> Result<Option<Customer>, sqlx::Error> {
    let mut sets = Vec::new();
    let mut args = Vec::new();
    for (col, v) in [("name", &changes.name), ("notes", &changes.notes)] {
        if let Some(v) = v {
            args.push(Arg::OptText(v.clone()));
            sets.push(format!("{col} = ${}", args.len()));
        }
    }
    if let Some(status) = &changes.status {
        args.push(Arg::Text(status.clone()));
        sets.push(format!("status = ${}", args.len()));
    }
    args.push(Arg::Text(Timestamp::now().into()));
    sets.push(format!("updated_at = ${}", args.len()));
    let n = args.len();
    let sql = format!(
        "UPDATE customer SET {} WHERE id = ${} AND business_id = ${} RETURNING {CUSTOMER_COLUMNS}",
        sets.join(", "),
        n + 1,
        n + 2
    );
    args.push(Arg::Int(id));
    args.push(Arg::Int(tenant.business_id()));
    bind_all(sqlx::query(AssertSqlSafe(sql)), &args)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| Customer::from_row(&r))
        .transpose()
}

/// Which of the tenant's calls to list. Timestamps are already in the stored
/// fixed-width format, so text comparison orders them.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    pub since: Option<String>,
    pub until: Option<String>,
    pub mode: Option<String>,
    pub status: Option<String>,
    pub customer_id: Option<i64>,
}

/// The tenant's calls matching `filter`, newest first.
pub async fn list_calls(
    db: &Db,
    tenant: &Tenant,
    filter: &CallFilter,
    page: Page,
) -> Result<Paged<CallLog>, sqlx::Error> {
    let mut clauses = vec!["business_id = $1".to_string()];
    let mut args = vec![Arg::Int(tenant.business_id())];
    let mut add = |clause: &str, arg: Arg| {
        args.push(arg);
        clauses.push(format!("{clause} ${}", args.len()));
    };
    if let Some(v) = &filter.since {
        add("COALESCE(started_at, created_at) >=", Arg::Text(v.clone()));
    }
    if let Some(v) = &filter.until {
        add("COALESCE(started_at, created_at) <", Arg::Text(v.clone()));
    }
    if let Some(v) = &filter.mode {
        add("mode =", Arg::Text(v.clone()));
    }
    if let Some(v) = &filter.status {
        add("status =", Arg::Text(v.clone()));
    }
    if let Some(v) = filter.customer_id {
        add("customer_id =", Arg::Int(v));
    }
    let filter_sql = clauses.join(" AND ");
    let total = count(
        db,
        format!("SELECT COUNT(*) AS n FROM call_log WHERE {filter_sql}"),
        &args,
    )
    .await?;
    let n = args.len();
    let sql = format!(
        "SELECT {CALL_COLUMNS} FROM call_log WHERE {filter_sql} \
         ORDER BY COALESCE(started_at, created_at) DESC, id DESC LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    args.push(Arg::Int(page.limit));
    args.push(Arg::Int(page.offset));
    let items = bind_all(sqlx::query(AssertSqlSafe(sql)), &args)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(CallLog::from_row)
        .collect::<Result<_, _>>()?;
    Ok(Paged { items, total })
}

/// One of the tenant's calls with its turns in order; `None` if not theirs.
pub async fn get_call(
    db: &Db,
    tenant: &Tenant,
    id: i64,
) -> Result<Option<(CallLog, Vec<CallTurn>)>, sqlx::Error> {
    let sql = format!("SELECT {CALL_COLUMNS} FROM call_log WHERE id = $1 AND business_id = $2");
    let Some(row) = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .bind(tenant.business_id())
        .fetch_optional(&db.pool)
        .await?
    else {
        return Ok(None);
    };
    let call = CallLog::from_row(&row)?;
    let sql = format!(
        "SELECT {TURN_COLUMNS} FROM call_turn WHERE call_sid = $1 AND business_id = $2 \
         ORDER BY turn_id"
    );
    let turns = sqlx::query(AssertSqlSafe(sql))
        .bind(&call.call_sid)
        .bind(tenant.business_id())
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(CallTurn::from_row)
        .collect::<Result<_, _>>()?;
    Ok(Some((call, turns)))
}

/// A call in the owner's follow-up inbox, with its caller as the CRM
/// knows them (`None` when the call has no customer).
#[derive(Debug, Clone)]
pub struct FollowUp {
    pub call: CallLog,
    pub customer: Option<(i64, Option<String>, String)>,
}

/// The tenant's calls whose follow-up is in `status` (`open` or `done`),
/// newest first, with their customers.
pub async fn list_follow_ups(
    db: &Db,
    tenant: &Tenant,
    status: &str,
    page: Page,
) -> Result<Paged<FollowUp>, sqlx::Error> {
    let total = count(
        db,
        "SELECT COUNT(*) AS n FROM call_log WHERE business_id = $1 AND follow_up_status = $2"
            .to_string(),
        &[
            Arg::Int(tenant.business_id()),
            Arg::Text(status.to_string()),
        ],
    )
    .await?;
    // The call's columns qualified, so the customer's `id` and `business_id`
    // cannot be taken for the call's.
    let call_columns = CALL_COLUMNS
        .split(',')
        .map(|c| format!("l.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {call_columns}, c.id AS cust_id, c.name AS cust_name, c.phone AS cust_phone \
         FROM call_log l \
         LEFT JOIN customer c ON c.id = l.customer_id AND c.business_id = l.business_id \
         WHERE l.business_id = $1 AND l.follow_up_status = $2 \
         ORDER BY COALESCE(l.started_at, l.created_at) DESC, l.id DESC LIMIT $3 OFFSET $4"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(tenant.business_id())
        .bind(status)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&db.pool)
        .await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        let customer = match row.try_get::<Option<i64>, _>("cust_id")? {
            Some(id) => Some((id, row.try_get("cust_name")?, row.try_get("cust_phone")?)),
            None => None,
        };
        items.push(FollowUp {
            call: CallLog::from_row(row)?,
            customer,
        });
    }
    Ok(Paged { items, total })
}

/// Marks one of the tenant's calls' follow-up `status` (`open` or `done`),
/// recording the note, who and when. `None` if the call is not theirs.
pub async fn set_follow_up(
    db: &Db,
    tenant: &Tenant,
    id: i64,
    status: &str,
    note: Option<&str>,
    at: &Timestamp,
) -> Result<Option<CallLog>, sqlx::Error> {
    let sql = format!(
        "UPDATE call_log SET follow_up_status = $1, follow_up_note = $2, follow_up_by = $3, \
         follow_up_at = $4, updated_at = $4 WHERE id = $5 AND business_id = $6 \
         RETURNING {CALL_COLUMNS}"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(status)
        .bind(note)
        .bind(tenant.user_id())
        .bind(at)
        .bind(id)
        .bind(tenant.business_id())
        .fetch_optional(&db.pool)
        .await?
        .map(|row| CallLog::from_row(&row))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn search_text_cannot_smuggle_like_wildcards() {
        assert_eq!(like_pattern("Dana"), "%dana%");
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn a_dialled_number_searches_the_stored_international_digits() {
        assert_eq!(super::phone_search("050-123 4567"), "501234567");
        assert_eq!(super::phone_search("Dana"), "Dana");
    }
}
