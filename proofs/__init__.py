"""qldb-auditor's proof engine: pure functions over bytes and parsed Ion values.

No files, network, boto3 or click. See each module's docstring for the algorithm it implements.
"""

from proofs.errors import MalformedError, ProofError, VerificationError
from proofs.ionhash import HashFunction, ion_hash
from proofs.merkle import (
    HASH_LENGTH,
    MAX_PROOF_LENGTH,
    Frontier,
    check_hash,
    consistency_path,
    consistency_path_length,
    dot,
    fold,
    inclusion_path,
    inclusion_path_length,
    merkle_root,
)
from proofs.qldb import (
    BlockAddress,
    BlockResult,
    Check,
    block_address,
    revision_hash,
    verify_block,
    verify_consistency,
    verify_proof,
    verify_revision,
)

__all__ = [
    "HASH_LENGTH",
    "MAX_PROOF_LENGTH",
    "BlockAddress",
    "BlockResult",
    "Check",
    "Frontier",
    "HashFunction",
    "MalformedError",
    "ProofError",
    "VerificationError",
    "block_address",
    "check_hash",
    "consistency_path",
    "consistency_path_length",
    "dot",
    "fold",
    "inclusion_path",
    "inclusion_path_length",
    "ion_hash",
    "merkle_root",
    "revision_hash",
    "verify_block",
    "verify_consistency",
    "verify_proof",
    "verify_revision",
]
