// finch_sgemm_rows_pair on one thread (a LoRA pair: E = D·F, m × r, and G = Dᵀ·H, n × r, in one pass over D), at
// the level FINCH_ISA picks: best of 7 timings of 20 calls, µs a call. BENCHMARKS.md, session 15.
//
//   clang -O3 -I Sources/CFinchKernels/include scripts/bench/rows_pair.c -o /tmp/rows_pair -lpthread -lm
//   FINCH_ISA=avx2 /tmp/rows_pair M N R     e.g. 512 1536 16 (one of two threads' share of the gate/up pairs)
#include "../../Sources/CFinchKernels/isa.c"
#include "../../Sources/CFinchKernels/pool.c"
#include "../../Sources/CFinchKernels/sgemm.c"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(int argc,char**argv){
  if(argc<4){fprintf(stderr,"usage: %s M N R\n",argv[0]);return 2;}
  size_t m=atoi(argv[1]),n=atoi(argv[2]),r=atoi(argv[3]);
  float*d=aligned_alloc(64,4*m*n),*f=aligned_alloc(64,4*n*r),*h=aligned_alloc(64,4*m*r),*e=aligned_alloc(64,4*m*r),*g=aligned_alloc(64,4*n*r);
  for(size_t i=0;i<m*n;i++)d[i]=(i%7-3)*.01f; for(size_t i=0;i<n*r;i++)f[i]=(i%5-2)*.1f; for(size_t i=0;i<m*r;i++)h[i]=(i%3-1)*.1f;
  double best=1e9; for(int rep=0;rep<7;rep++){ double t0=now(); for(int q=0;q<20;q++) finch_sgemm_rows_pair(m,n,r,1,d,n,f,r,0,e,r,h,r,0,g,r); double t=(now()-t0)/20; if(t<best)best=t;}
  printf("%s rows_pair %zu×%zu r %zu: %.1f µs, %.1f GFLOP/s\n", finch_isa_name(finch_isa_active()), m,n,r,best*1e6, 4.0*m*n*r/best/1e9);
}
