//! Restart recovery (analysis, redo, undo) and the undo of one transaction.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering::SeqCst;

use kv_file::BlockId;
use kv_log::Lsn;

use crate::manager::TxManager;
use crate::record::{LogRecord, TxnId};
use crate::{Error, Result};

/// What restart recovery found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Log records read.
    pub records: u64,
    /// Where redo started (the last checkpoint's `redo_from`).
    pub redo_from: Lsn,
    /// Changes re-applied because their page did not have them yet.
    pub redone: u64,
    /// Changes skipped because their page already had them (by page LSN).
    pub skipped: u64,
    /// Transactions that had not ended and were rolled back.
    pub losers: Vec<TxnId>,
    /// Pages found torn and rebuilt from a logged page image.
    pub repaired: u64,
    /// The highest transaction number seen.
    pub max_txn: TxnId,
}

// ANCHOR: recover
/// Repeats history from the last checkpoint, then rolls back every transaction that had not
/// ended. Safe to interrupt: a crash during recovery leaves a log that recovers the same way.
pub(crate) fn recover(mgr: &TxManager) -> Result<RecoveryReport> {
    let mut report = RecoveryReport::default();
    // Analysis: read the whole log (a checkpoint truncates it, so it is short), find the
    // last checkpoint and every transaction's latest record and fate.
    let mut records = Vec::new();
    for item in mgr.log.iter_from(mgr.log.first_lsn())? {
        let (lsn, bytes) = item?;
        records.push((lsn, LogRecord::decode(&bytes, lsn)?));
    }
    report.records = records.len() as u64;
    let mut last: BTreeMap<TxnId, Lsn> = BTreeMap::new();
    let mut ended = HashSet::new();
    report.redo_from = mgr.log.first_lsn();
    for (lsn, record) in &records {
        match record {
            LogRecord::Checkpoint { redo_from } => report.redo_from = *redo_from,
            LogRecord::Commit { txn, .. } | LogRecord::Rollback { txn, .. } => {
                ended.insert(*txn);
            }
            _ => {}
        }
        if record.txn() != 0 {
            last.insert(record.txn(), *lsn);
            report.max_txn = report.max_txn.max(record.txn());
        }
    }
    mgr.horizon.store(report.redo_from.0, SeqCst);

    // Redo: every change from the redo point on, unless its page already has it.
    let redo_from = report.redo_from;
    for (lsn, record) in records.iter().filter(|(lsn, _)| *lsn >= redo_from) {
        match record {
            LogRecord::Update {
                block,
                offset,
                after: bytes,
                ..
            }
            | LogRecord::Compensation {
                block,
                offset,
                image: bytes,
                ..
            } => {
                redo(
                    mgr,
                    &mut report,
                    *lsn,
                    block,
                    *offset as usize,
                    bytes,
                    false,
                )?;
            }
            LogRecord::PageImage { block, image } => {
                redo(mgr, &mut report, *lsn, block, 0, image, true)?;
            }
            _ => {}
        }
    }

    // Undo: roll back the losers, newest transaction first.
    for (&txn, &lsn) in last.iter().rev().filter(|(txn, _)| !ended.contains(txn)) {
        undo(mgr, txn, lsn)?;
        report.losers.push(txn);
    }
    Ok(report)
}
// ANCHOR_END: recover

/// Re-applies one logged change at `lsn` if the page's LSN shows it lacks it. A page image
/// (`whole`) replaces the whole payload; a page found torn is rebuilt only from one.
fn redo(
    mgr: &TxManager,
    report: &mut RecoveryReport,
    lsn: Lsn,
    block: &BlockId,
    offset: usize,
    bytes: &[u8],
    whole: bool,
) -> Result<()> {
    not_the_log(mgr, block, lsn)?;
    mgr.ensure_block(block)?;
    let guard = match mgr.pool.pin(block) {
        Ok(guard) => guard,
        Err(kv_buffer::Error::File(kv_file::Error::Corrupt { .. })) if whole => {
            // Torn by the crash. Every page changed since the checkpoint began had its image
            // logged before its first change, so this image is the page's first record in
            // the redo range: start the page afresh from it.
            let mut fresh = mgr.fm.new_page();
            mgr.fm.write(block, &mut fresh)?;
            report.repaired += 1;
            mgr.pool.pin(block)?
        }
        Err(kv_buffer::Error::File(kv_file::Error::Corrupt { .. })) => {
            return Err(Error::Unrepairable {
                block: block.clone(),
            })
        }
        Err(e) => return Err(e.into()),
    };
    let mut page = guard.write();
    if page.get_u64(0)? >= lsn.0 {
        report.skipped += 1;
        return Ok(());
    }
    let end = offset + bytes.len();
    if end > page.payload().len() {
        return Err(Error::BadRecord {
            lsn,
            reason: format!(
                "change of {} bytes at {offset} runs past the page",
                bytes.len()
            ),
        });
    }
    page.payload_mut()[offset..end].copy_from_slice(bytes);
    page.set_u64(0, lsn.0)?;
    page.set_modified(0, lsn);
    report.redone += 1;
    Ok(())
}

/// Refuses a record at `lsn` whose page is in one of the log's own files: only damage can
/// name one, and redo or undo must not write pages into the live log.
fn not_the_log(mgr: &TxManager, block: &BlockId, lsn: Lsn) -> Result<()> {
    mgr.check_file(block.file()).map_err(|e| Error::BadRecord {
        lsn,
        reason: e.to_string(),
    })
}

// ANCHOR: undo
/// Undoes transaction `txn` from its record at `last` back to its start, logging a
/// compensation record for every change undone, then logs its `Rollback`.
///
/// A compensation record says where undo goes next (`undo_next`), so if a crash interrupts
/// this, recovery redoes the compensations already logged and resumes after them: nothing
/// is undone twice, however often recovery itself is interrupted.
pub(crate) fn undo(mgr: &TxManager, txn: TxnId, mut last: Lsn) -> Result<()> {
    let mut next = last;
    while next != Lsn::ZERO {
        let at = next;
        let record = LogRecord::decode(&mgr.log.read(at)?, at)?;
        if record.txn() != txn {
            return Err(Error::BadRecord {
                lsn: at,
                reason: format!(
                    "record of transaction {} in the chain of {txn}",
                    record.txn()
                ),
            });
        }
        next = match record {
            LogRecord::Update {
                prev,
                block,
                offset,
                before,
                ..
            } => {
                not_the_log(mgr, &block, at)?;
                let step = UndoStep {
                    prev,
                    block,
                    offset,
                    before,
                };
                last = undo_step(mgr, txn, last, &step)?;
                prev
            }
            LogRecord::Compensation { undo_next, .. } => undo_next,
            LogRecord::Start { .. } => Lsn::ZERO,
            LogRecord::Commit { prev, .. } | LogRecord::Rollback { prev, .. } => prev,
            other => {
                return Err(Error::BadRecord {
                    lsn: next,
                    reason: format!("{other:?} in the chain of transaction {txn}"),
                })
            }
        };
        // Each record names an earlier one: a chain that points forward (or at itself)
        // is damage, and following it would loop forever.
        if next >= at {
            return Err(Error::BadRecord {
                lsn: at,
                reason: format!("the chain of transaction {txn} goes forward, to {next}"),
            });
        }
    }
    mgr.log
        .append(&LogRecord::Rollback { txn, prev: last }.encode())?;
    Ok(())
}
// ANCHOR_END: undo

/// One change to undo: where it was, what was there before, and the record before it in
/// its transaction's chain (where undo goes next).
#[derive(Debug)]
pub(crate) struct UndoStep {
    /// The transaction's record before the change.
    pub prev: Lsn,
    /// The page changed.
    pub block: BlockId,
    /// Where in the page.
    pub offset: u32,
    /// The bytes there before the change.
    pub before: Vec<u8>,
}

/// Restores the bytes of `step`, logging a compensation record linked after `last`; returns
/// the compensation's LSN.
fn undo_step(mgr: &TxManager, txn: TxnId, last: Lsn, step: &UndoStep) -> Result<Lsn> {
    let guard = mgr.pool.pin(&step.block)?;
    let offset = step.offset as usize;
    let mut page = guard.write();
    let (lsn, _) = mgr.change_page(
        &mut page,
        &step.block,
        offset,
        &step.before,
        txn,
        None,
        |_| LogRecord::Compensation {
            txn,
            prev: last,
            undo_next: step.prev,
            block: step.block.clone(),
            offset: step.offset,
            image: step.before.clone(),
        },
    )?;
    Ok(lsn)
}

// ANCHOR: undo_in_memory
/// Undoes transaction `txn` from the undo steps it kept in memory (oldest first), exactly as
/// [`undo`] would from the log — the same compensation records, the same `Rollback` — but
/// without reading the log, which would have to be flushed (an fsync) to be read.
pub(crate) fn undo_in_memory(
    mgr: &TxManager,
    txn: TxnId,
    mut last: Lsn,
    steps: Vec<UndoStep>,
) -> Result<()> {
    for step in steps.iter().rev() {
        last = undo_step(mgr, txn, last, step)?;
    }
    mgr.log
        .append(&LogRecord::Rollback { txn, prev: last }.encode())?;
    Ok(())
}
// ANCHOR_END: undo_in_memory
