// One thread's share of a pre-packed product m × n × k (B = Wᵀ packed once): rows [m0, m1) × columns [n0, n1),
// as CPUBackend.forEachShare hands a thread. Best of 7 timings, GFLOP/s. BENCHMARKS.md, session 15.
//
//   clang -O3 -I Sources/CFinchKernels/include scripts/bench/sgemm_share.c -o /tmp/share -lpthread -lm
//   /tmp/share M N K M0 M1 N0 N1     e.g. 1024 1536 592 0 72 0 1536 (a row split on 16 threads); FINCH_ISA=avx2 for AVX2
#include "../../Sources/CFinchKernels/isa.c"
#include "../../Sources/CFinchKernels/pool.c"
#include "../../Sources/CFinchKernels/sgemm.c"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(int argc,char**argv){
  int m=atoi(argv[1]),n=atoi(argv[2]),k=atoi(argv[3]),m0=atoi(argv[4]),m1=atoi(argv[5]),n0=atoi(argv[6]),n1=atoi(argv[7]);
  int lv=finch_isa_active();
  float*a=aligned_alloc(64,4L*m*k),*b=aligned_alloc(64,4L*n*k),*c=aligned_alloc(64,4L*m*n);
  for(long i=0;i<(long)m*k;i++)a[i]=(i%7-3)*.01f; for(long i=0;i<(long)n*k;i++)b[i]=(i%5-2)*.01f;
  float*pk=aligned_alloc(64,4*((finch_sgemm_packed_floats(lv,n,k)+15)/16*16)); finch_sgemm_pack_b(lv,1,n,k,b,k,pk);
  double best=1e9; int it=(int)(2e9/(2.0*(m1-m0)*(n1-n0)*k))+1;
  for(int r=0;r<7;r++){ double t0=now(); for(int q=0;q<it;q++){
      finch_sgemm_packed_tile(lv,0,m,n,k,1,a,k,pk,0,0,0,1,NULL,1,NULL,1,0,c,n,m0,m1,n0,n1);}
    double t=(now()-t0)/it; if(t<best)best=t;}
  printf("%d×%d×%d share [%d,%d)×[%d,%d): %.1f GFLOP/s (%.3f ms)\n",m,n,k,m0,m1,n0,n1,2.0*(m1-m0)*(n1-n0)*k/best/1e9,best*1e3);
}
