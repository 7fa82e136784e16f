#ifndef FINCH_NCCL_H
#define FINCH_NCCL_H

// NCCL's unique id as nccl.h declares it. Finch opens libnccl with dlopen (no NCCL at build
// time); ncclCommInitRank takes this 128-byte struct by value, which Swift can only pass when
// the struct comes from C.
#define FINCH_NCCL_UNIQUE_ID_BYTES 128
typedef struct { char internal[FINCH_NCCL_UNIQUE_ID_BYTES]; } finch_nccl_unique_id;

#endif
