//! Row decoding shared by the store's parts.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::AccountError;

pub fn get<'r, T>(row: &'r AnyRow, column: &'static str) -> Result<T, AccountError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(column).map_err(AccountError::query("decode"))
}
