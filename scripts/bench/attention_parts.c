// Attention's forward or backward for one step of SmolLM2-135M training (batch 4 × 256, 9 query / 3 key-value
// heads of 64, 30 layers of separate buffers), as Ops/Attention.swift runs it: the same kernels in the same order,
// one unit per (batch, key/value head) on two pool threads, query blocks of 32. KO (a bit mask) knocks parts out
// for timing (the results are then wrong): forward 1 the S product, 2 the softmax rows, 4 the P·V product,
// 8 the gathers and scatter; backward 1 the S recompute (with its gather of Q), 2 the P/dS rows, 4 D, 8 the
// gathers and scatter. Prints the best of 7 passes over the 30 layers. BENCHMARKS.md, session 12.
//
//   clang -O3 -march=native -I Sources/CFinchKernels/include scripts/bench/attention_parts.c -o /tmp/attention_parts -lpthread -lm
// (-march=native gives the AVX2 kernels AVX-512VL's 32 registers: at FINCH_ISA=avx2 these are not the package's figures,
// whose AVX2 code has 16; the harness's own dot product needs AVX-512, so it does not build with -march=x86-64-v3.)
//   /tmp/attention_parts fwd|bwd [KO]
#include "../../Sources/CFinchKernels/isa.c"
#include "../../Sources/CFinchKernels/pool.c"
#include "../../Sources/CFinchKernels/sgemm.c"
#include "../../Sources/CFinchKernels/vecmath.c"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
enum { B=4, T=256, H=9, KVH=3, D=64, G=3, BQ=32, QS=H*D, KS=KVH*D, MMAX=G*BQ, LAYERS=30 };
static int KO;
typedef struct { float *q,*k,*v,*out,*dout,*lse,*dq,*dk,*dv; } layer;
static layer L[LAYERS]; static int cur;
static size_t pf;  // floats of one packed head (Kᵀ or Vᵀ)
static void gather(const float *src, int b, int g, int t0, int rows, float *dst){
  for(int j=0;j<G;j++){ const float *head=src+(size_t)b*T*QS+(g*G+j)*D+(size_t)t0*QS; for(int i=0;i<rows;i++) memcpy(dst+(j*rows+i)*D, head+(size_t)i*QS, 4*D);} }
static void scatter(const float *src, float *dst, int b, int g, int t0, int rows){
  for(int j=0;j<G;j++){ float *head=dst+(size_t)b*T*QS+(g*G+j)*D+(size_t)t0*QS; for(int i=0;i<rows;i++) memcpy(head+(size_t)i*QS, src+(j*rows+i)*D, 4*D);} }
static float dot(const float*a,const float*b,int n){ __m512 acc=_mm512_setzero_ps(); for(int i=0;i<n;i+=16) acc=_mm512_fmadd_ps(_mm512_loadu_ps(a+i),_mm512_loadu_ps(b+i),acc); return _mm512_reduce_add_ps(acc);}
static void unit_fwd(void *ctx, long u){
  (void)ctx; layer *l=&L[cur]; int level=finch_isa_active(); float scale=0.125f;
  static __thread float *base; if(!base) base=aligned_alloc(64, 4*(pf+2*MMAX*D+MMAX*T+MMAX)+64);
  float *pk=base, *qs=base+pf, *os=qs+MMAX*D, *s=os+MMAX*D, *inv=s+MMAX*T;
  int b=u/KVH, kvh=u%KVH; const float *kh=l->k+(size_t)b*T*KS+kvh*D, *vh=l->v+(size_t)b*T*KS+kvh*D;
  finch_sgemm_pack_b(level,1,T,D,kh,KS,pk);
  for(int blk=0; blk<T/BQ; blk++){
    int t0=blk*BQ, rows=BQ, keys=t0+BQ, m=G*rows;
    if(!(KO&8)) gather(l->q,b,kvh,t0,rows,qs);
    if(!(KO&1)) finch_sgemm_packed_tile(level,0,m,T,D,scale,qs,D,pk,0,0,0,0,NULL,1,NULL,1,0,s,keys,0,m,0,keys);
    if(!(KO&2)) finch_attention_softmax_rows_f32(s,G,rows,keys,t0+1,inv,l->lse+(b*H+kvh*G)*T+t0,T);
    if(!(KO&4)) finch_sgemm_avx512(0,0,m,D,keys,1,s,keys,vh,KS,0,os,D);
    if(!(KO&8)) { for(int j=0;j<G;j++){ float *head=l->out+(size_t)b*T*QS+(kvh*G+j)*D+(size_t)t0*QS; for(int i=0;i<rows;i++){ float sc=inv[j*rows+i]; const float *f=os+(j*rows+i)*D; float *to=head+(size_t)i*QS; for(int c=0;c<D;c++) to[c]=f[c]*sc; }}}
  }
}
static void unit_bwd(void *ctx, long u){
  (void)ctx; layer *l=&L[cur]; int level=finch_isa_active(); float scale=0.125f;
  static __thread float *base; if(!base) base=aligned_alloc(64, 4*(2*pf+3*MMAX*D+2*MMAX*T+MMAX)+64);
  float *pk=base, *pv=base+pf, *qs=base+2*pf, *dos=qs+MMAX*D, *dqs=dos+MMAX*D, *pm=dqs+MMAX*D, *dpm=pm+MMAX*T, *dd=dpm+MMAX*T;
  int b=u/KVH, kvh=u%KVH; const float *kh=l->k+(size_t)b*T*KS+kvh*D, *vh=l->v+(size_t)b*T*KS+kvh*D;
  float *dkh=l->dk+(size_t)b*T*KS+kvh*D, *dvh=l->dv+(size_t)b*T*KS+kvh*D;
  finch_sgemm_pack_b(level,1,T,D,kh,KS,pk); finch_sgemm_pack_b(level,1,T,D,vh,KS,pv);
  for(int blk=T/BQ-1; blk>=0; blk--){
    int t0=blk*BQ, rows=BQ, keys=t0+BQ, m=G*rows; float beta= blk==T/BQ-1?0:1;
    if(!(KO&8)) gather(l->dout,b,kvh,t0,rows,dos);
    if(!(KO&1)){ if(!(KO&8)) gather(l->q,b,kvh,t0,rows,qs);
      finch_sgemm_packed_tile(level,0,m,T,D,scale,qs,D,pk,0,0,0,0,NULL,1,NULL,1,0,pm,keys,0,m,0,keys);}
    if(!(KO&4)) for(int r=0;r<m;r++){ int i=r%rows, head=kvh*G+r/rows; dd[r]=dot(dos+r*D, l->out+(size_t)b*T*QS+head*D+(size_t)(t0+i)*QS, D);}
    finch_sgemm_packed_tile(level,0,m,T,D,1,dos,D,pv,0,0,0,0,NULL,1,NULL,1,0,dpm,keys,0,m,0,keys);
    if(!(KO&2)) finch_attention_grad_rows_f32(pm,dpm,G,rows,keys,t0+1,l->lse+(b*H+kvh*G)*T+t0,T,dd);
    finch_sgemm_avx512(1,0,keys,D,m,1,pm,keys,dos,D,beta,dvh,KS);
    finch_sgemm_avx512(0,0,m,D,keys,scale,dpm,keys,kh,KS,0,dqs,D);
    if(!(KO&8)) scatter(dqs,l->dq,b,kvh,t0,rows);
    finch_sgemm_avx512(1,0,keys,D,m,scale,dpm,keys,qs,D,beta,dkh,KS);
  }
}
static float *rnd(size_t n, float s){ float *p=aligned_alloc(64,4*n); for(size_t i=0;i<n;i++) p[i]=((float)rand()/(float)RAND_MAX-0.5f)*s; return p; }
int main(int argc,char**argv){
  int bwd = argc > 1 && strcmp(argv[1], "bwd") == 0;
  KO=argc>2?atoi(argv[2]):0;
  pf=(finch_sgemm_packed_floats(finch_isa_active(),T,D)+15)/16*16;
  for(int i=0;i<LAYERS;i++){ L[i].q=rnd(B*T*QS,1); L[i].k=rnd(B*T*KS,1); L[i].v=rnd(B*T*KS,1); L[i].out=rnd(B*T*QS,1); L[i].dout=rnd(B*T*QS,1);
    L[i].lse=rnd(B*H*T,1); for(int j=0;j<B*H*T;j++) L[i].lse[j]+=5; L[i].dq=rnd(B*T*QS,1); L[i].dk=rnd(B*T*KS,1); L[i].dv=rnd(B*T*KS,1);}
  double best=1e9;
  for(int rep=0;rep<7;rep++){ double t0=now(); for(cur=0;cur<LAYERS;cur++) finch_pool_run(B*KVH,2,bwd?unit_bwd:unit_fwd,NULL); double t=now()-t0; if(t<best)best=t; }
  printf("%s KO %d: %.2f ms per 30 layers\n",bwd?"backward":"forward",KO,best*1e3);
}
