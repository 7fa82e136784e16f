// An adapter's weight gradient dA = d(xa)ᵀ·x (m × n = (k × m)ᵀ · (k × n), m the rank or up to three ranks side
// by side) on two pool threads splitting n as CPUBackend.sgemm does, the input x either cold (rotated over more
// than 96 MB of copies, as in training where it comes from memory) or warm. Prints µs and GFLOP/s of the whole
// product and the largest difference from the scalar reference. BENCHMARKS.md, session 12.
//
//   clang -O3 -I Sources/CFinchKernels/include scripts/bench/tn_gradient.c -o /tmp/tn_gradient -lpthread -lm
//   /tmp/tn_gradient M N K NARROW COLD      e.g. 48 576 1024 0 1; FINCH_ISA=avx2 for the AVX2 kernels
// NARROW 1 calls finch_sgemm_narrow, 0 finch_sgemm_avx512 (both narrow for m ≤ 48 since 17a35c5); the packed path
// these shapes took before is the same file built in a checkout of 42e9d96.
#include "../../Sources/CFinchKernels/isa.c"
#include "../../Sources/CFinchKernels/pool.c"
#include "../../Sources/CFinchKernels/sgemm.c"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
typedef struct { int m,n,k; const float *a,*b; float *c; int narrow; } tn_job;
static void task(void *ctx, long t){ tn_job *j=ctx; int units=(j->n+31)/32; int lo=units*t/2*32, hi=units*(t+1)/2*32; if(hi>j->n)hi=j->n;
  if (j->narrow) finch_sgemm_narrow(1,0,j->m,hi-lo,j->k,1.f,j->a,j->m,j->b+lo,j->n,0,j->c+lo,j->n);
  else finch_sgemm_avx512(1,0,j->m,hi-lo,j->k,1.f,j->a,j->m,j->b+lo,j->n,0,j->c+lo,j->n); }
int main(int argc,char**argv){
  int m=atoi(argv[1]), n=atoi(argv[2]), k=atoi(argv[3]), narrow=atoi(argv[4]), cold=atoi(argv[5]);
  int NB = cold ? (int)(96e6/(4.0*n*k))+1 : 1;
  float **bs=malloc(NB*sizeof(float*)); for(int i=0;i<NB;i++){bs[i]=aligned_alloc(64,4*(size_t)n*k); for(size_t q=0;q<(size_t)n*k;q++)bs[i][q]=((int)(q%7)-3)*0.01f;}
  float *a=aligned_alloc(64,4*(size_t)m*k), *c=aligned_alloc(64,4*(size_t)m*n), *r=aligned_alloc(64,4*(size_t)m*n);
  for(int i=0;i<m*k;i++)a[i]=(i%5-2)*0.1f;
  tn_job j={m,n,k,a,bs[0],c,narrow};
  finch_pool_run(2,2,task,&j);
  finch_sgemm_ref(1,0,m,n,k,1.f,a,m,bs[0],n,0,r,n);
  double err=0; for(int i=0;i<m*n;i++){double d=c[i]-r[i]; if(d<0)d=-d; if(d>err)err=d;}
  int it=400; double best=1e9, sum=0;
  for(int rep=0;rep<5;rep++){ double t0=now();
    for(int q=0;q<it;q++){ j.b=bs[q%NB]; finch_pool_run(2,2,task,&j);} 
    double t=(now()-t0)/it; sum+=t; if(t<best)best=t;}
  printf("m %d n %d k %d %s %s: best %.1f us %.1f GF/s, mean %.1f GF/s (maxerr %.2g)\n",m,n,k,narrow?"finch_sgemm_narrow":"finch_sgemm_avx512",cold?"cold":"warm",
     best*1e6, 2.0*m*n*k/best/1e9, 2.0*m*n*k/(sum/5)/1e9, err);
}
