// Rough op time of a tiny model step (d 128, 4 layers, T 128, B 8, V 8192) on the
// CPU reference ops. Not built by CMake; build and run by hand:
//   g++ -O3 -std=gnu++20 -fopenmp -Isrc $(ls src/cpu/*.cpp | grep -v cpu_backend)
//       bench/cpu_step_bench.cpp -o /tmp/cpu_step_bench && OMP_NUM_THREADS=2 /tmp/cpu_step_bench
#include <chrono>
#include <ctime>
#include <cstdio>
#include <vector>
#include <omp.h>
#include "cpu/matmul.h"
#include "cpu/attention.h"
#include "cpu/layernorm.h"
#include "cpu/gelu.h"
#include "cpu/cross_entropy.h"
#include "cpu/embedding.h"
#include "cpu/elementwise.h"
#include "cpu/adamw.h"
using namespace alibi::cpu;
using clk=std::chrono::steady_clock;
static double cpu_ms(){timespec ts; clock_gettime(CLOCK_PROCESS_CPUTIME_ID,&ts); return ts.tv_sec*1e3+ts.tv_nsec*1e-6;}
static double ms(clk::time_point a){return std::chrono::duration<double,std::milli>(clk::now()-a).count();}
int main(){
  const int64_t B=8,T=128,C=128,H=4,D=32,L=4,V=8192,N=B*T;
  std::vector<float> x(N*C,0.1f),ln(N*C),mean(N),rstd(N),qkv(N*3*C),att(N*C),lse(B*H*T),fc(N*4*C),g(N*4*C),logits(N*V),losses(N);
  std::vector<float> wqkv(3*C*C,0.01f),wo(C*C,0.01f),wfc(4*C*C,0.01f),wp(4*C*C,0.01f),wte(V*C,0.01f),lw(C,1),lb(4*C,0);
  std::vector<float> dwqkv(3*C*C),dwo(C*C),dwfc(4*C*C),dwp(4*C*C),dwte(V*C),dlw(C),dlb(4*C),dx(N*C),dqkv(N*3*C),dfc(N*4*C),dt(N*C);
  std::vector<float> sl={0.25f,0.0625f,0.015625f,0.0039f}; std::vector<int32_t> tok(N); for(int i=0;i<N;++i) tok[i]=(i*7919)%V;
  for(size_t i=0;i<qkv.size();++i) qkv[i]=((i*37)%101)*0.01f-0.5f;
  for(int rep=0;rep<3;++rep){
  double tm=0,ta=0,to=0; auto t0=clk::now(), t=clk::now(); const double c0=cpu_ms();
  embedding_forward(x.data(),tok.data(),wte.data(),N,V,C);
  for(int l=0;l<L;++l){
    t=clk::now(); layernorm_forward(ln.data(),mean.data(),rstd.data(),x.data(),lw.data(),lb.data(),N,C,1e-5f); to+=ms(t);
    t=clk::now(); matmul_forward(qkv.data(),ln.data(),wqkv.data(),lb.data(),N,C,3*C); tm+=ms(t);
    t=clk::now(); attention_forward(att.data(),lse.data(),qkv.data(),sl.data(),B,T,H,D); ta+=ms(t);
    t=clk::now(); matmul_forward(ln.data(),att.data(),wo.data(),lb.data(),N,C,C); tm+=ms(t);
    t=clk::now(); add(x.data(),x.data(),ln.data(),N*C); layernorm_forward(ln.data(),mean.data(),rstd.data(),x.data(),lw.data(),lb.data(),N,C,1e-5f); to+=ms(t);
    t=clk::now(); matmul_forward(fc.data(),ln.data(),wfc.data(),lb.data(),N,C,4*C); tm+=ms(t);
    t=clk::now(); gelu_forward(g.data(),fc.data(),N*4*C); to+=ms(t);
    t=clk::now(); matmul_forward(ln.data(),g.data(),wp.data(),lb.data(),N,4*C,C); tm+=ms(t);
  }
  t=clk::now(); matmul_forward(logits.data(),x.data(),wte.data(),(const float*)nullptr,N,C,V); tm+=ms(t);
  t=clk::now(); cross_entropy(losses.data(),logits.data(),tok.data(),N,V,true,1.f/N); to+=ms(t);
  t=clk::now(); matmul_backward(dx.data(),dwte.data(),(float*)nullptr,logits.data(),x.data(),wte.data(),N,C,V); tm+=ms(t);
  for(int l=0;l<L;++l){
    t=clk::now(); matmul_backward(dfc.data(),dwp.data(),dlb.data(),dx.data(),g.data(),wp.data(),N,4*C,C); tm+=ms(t);
    t=clk::now(); gelu_backward(dfc.data(),fc.data(),dfc.data(),N*4*C); to+=ms(t);
    t=clk::now(); matmul_backward(dt.data(),dwfc.data(),dlb.data(),dfc.data(),ln.data(),wfc.data(),N,C,4*C); tm+=ms(t);
    t=clk::now(); layernorm_backward(dt.data(),dlw.data(),dlb.data(),dt.data(),x.data(),lw.data(),mean.data(),rstd.data(),N,C); add(dx.data(),dx.data(),dt.data(),N*C); to+=ms(t);
    t=clk::now(); matmul_backward(dt.data(),dwo.data(),dlb.data(),dx.data(),att.data(),wo.data(),N,C,C); tm+=ms(t);
    t=clk::now(); attention_backward(dqkv.data(),dt.data(),qkv.data(),att.data(),lse.data(),sl.data(),B,T,H,D); ta+=ms(t);
    t=clk::now(); matmul_backward(dt.data(),dwqkv.data(),dlb.data(),dqkv.data(),ln.data(),wqkv.data(),N,C,3*C); tm+=ms(t);
    t=clk::now(); layernorm_backward(dt.data(),dlw.data(),dlb.data(),dt.data(),x.data(),lw.data(),mean.data(),rstd.data(),N,C); add(dx.data(),dx.data(),dt.data(),N*C); to+=ms(t);
  }
  t=clk::now(); embedding_backward(dwte.data(),dx.data(),tok.data(),N,V,C);
  AdamWHyper hp; hp.lr=1e-3; adamw_update(wte.data(),dwte.data(),dwqkv.data(),dwp.data(),std::min<int64_t>(V*C,3*C*C),hp); sum_of_squares(dwte.data(),V*C); to+=ms(t);
  printf("threads %d: step %.1f ms wall, %.1f ms cpu (wall: matmul %.1f, attention %.1f, other %.1f)\n",omp_get_max_threads(),ms(t0),cpu_ms()-c0,tm,ta,to);
  }
}
